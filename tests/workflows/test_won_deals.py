"""A deal won on a lead (decision 076), end to end with the Salesforce twin and the real Tryton: an Opportunity
created Closed Won on a prospect account fires both `lead-conversion` and `closed-won`. Whatever order the two run
in, the lead is converted once, onboarded once and the deal's order placed once — nothing dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from concord.events.store import ConsumerStore
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.tasks import store
from concord.tasks.models import TaskAction
from concord.workflows.engine import WorkflowEngine
from concord.workflows.explain import Explanation, gather, run_prefixes, runs_of
from concord.workflows.onboarding_model import LegalEntity, OnboardRequest
from concord.workflows.processes import process_specs, start_process
from tests.workflows.lifecycle_support import event_types, golden, sf_account
from tests.workflows.routing_support import deal, ingest, prospect, route
from tests.workflows.support import Systems, be_vat, crm_customer, settle

pytestmark = pytest.mark.tryton

BOTH_ORDERS = {"conversion-first": ("lead-conversion", "closed-won"),
               "closed-won-first": ("closed-won", "lead-conversion")}


def _runs(engine: WorkflowEngine, prefix: str) -> list[str]:
    return sorted(r.workflow_id for r in engine.runs(prefix) if "/" not in r.workflow_id)


def _assert_one_of_everything(engine: WorkflowEngine, systems: Systems, customer: str, sf_id: str,
                              opportunity: str, contract: str) -> dict[str, Any]:
    onboarding = settle(engine, f"onboard:default:{customer}", timeout_s=120)
    assert onboarding.status == "completed" and onboarding.result is not None, onboarding
    activation_id = f"activate-contract:default:{customer}:{contract}"
    won = onboarding.result["contract"]
    assert won is not None and won["workflow_id"] == activation_id and won["status"] == "completed", won
    assert _runs(engine, f"convert-lead:default:{customer}") == [f"convert-lead:default:{customer}"]
    assert settle(engine, f"convert-lead:default:{customer}").status == "completed"
    assert _runs(engine, f"onboard:default:{customer}") == [f"onboard:default:{customer}"]
    assert _runs(engine, f"activate-contract:default:{customer}") == [activation_id]
    assert golden(engine, customer, "lifecycle_state") == "active"
    erp: Any = engine.services.connector("tryton", "default")
    assert [p.id for p in erp.search("party", {"code": customer})] == [onboarding.result["erp_party_id"]]
    sales = erp.list_sales(int(onboarding.result["erp_party_id"]))
    assert [(s.id, s.number) for s in sales] == [(won["order_id"], won["order_number"])]
    assert sales[0].state in ("confirmed", "processing", "done")
    assert golden(engine, contract, "number") == won["order_number"]
    assert event_types(engine, contract).count("ContractActivated") == 1
    deal_in_crm: dict[str, Any] = next(o for o in systems.salesforce.state.store.snapshot("Opportunity")
                                       if o["Id"] == opportunity)
    assert (deal_in_crm["Order_Number__c"], deal_in_crm["Contract_Status__c"]) == (won["order_number"], "Activated")
    assert sf_account(systems, sf_id)["Order_Number__c"] == won["order_number"]
    org = engine.services.connector("zendesk", "default").read("organizations", onboarding.result["systems"]["zendesk"]
                                                    ["organization"])
    assert org is not None and org.fields["organization_fields"]["order_number"] == won["order_number"]
    assert ConsumerStore(engine.services.engine).dead_letters() == []
    return won


@pytest.mark.parametrize("order", list(BOTH_ORDERS.values()), ids=list(BOTH_ORDERS))
def test_a_deal_created_closed_won_on_a_lead_converts_onboards_and_places_one_order(
        order: tuple[str, str], engine: WorkflowEngine, systems: Systems, runtime: Runtime,
        database_url: str) -> None:
    customer, sf_id = prospect(engine, systems, runtime, database_url, f"Won Lead {order[0]} Inc")
    opportunity, contract = deal(engine, systems, runtime, sf_id, "Closed Won")
    assert route(engine, order) == 2
    won = _assert_one_of_everything(engine, systems, customer, sf_id, opportunity, contract)
    # The won deal captured again (an edit in CRM) and routed again: the same runs answer, nothing is placed twice.
    systems.salesforce.state.store.tamper("Opportunity", opportunity, {"Amount": 1300})
    ingest(engine, runtime, ChangeCreate(system="salesforce", entity="contract", external_id=opportunity,
                                         fields={"Amount": 1300}, source_ts=datetime.now(UTC),
                                         idempotency_key=f"edit-{opportunity}"))
    route(engine, order)
    assert _assert_one_of_everything(engine, systems, customer, sf_id, opportunity, contract) == won


def test_a_deal_won_before_its_lead_was_converted_joins_the_running_conversion(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id = prospect(engine, systems, runtime, database_url, "Quick Closer GmbH")
    opportunity, contract = deal(engine, systems, runtime, sf_id, "Prospecting")
    route(engine, ("lead-conversion",))  # convert-lead starts; the deal is won before anyone waits for it
    deal(engine, systems, runtime, sf_id, "Closed Won", opportunity)
    route(engine, ("closed-won",))
    _assert_one_of_everything(engine, systems, customer, sf_id, opportunity, contract)


def _explain(engine: WorkflowEngine, customer: str) -> Explanation:
    statuses = [run for prefix in run_prefixes("default", customer) for run in engine.runs(prefix)]
    with engine.services.engine.connect() as conn:
        answer = gather(conn, "default", customer, runs_of(statuses))
    assert answer is not None
    return answer


def test_a_deal_won_while_another_onboarding_runs_waits_for_it_then_places_its_order(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    name = "Busy Onboarding NV"
    customer, sf_id = crm_customer(systems, runtime, database_url, name)
    request = OnboardRequest(customer_id=customer, legal_entity=LegalEntity(tax_id="BE0000000001",
                                                                            tax_id_type="eu_vat"))
    onboarding = start_process(engine, process_specs()["onboard-customer"], request)
    task = settle(engine, onboarding.workflow_id, until=("waiting",)).open_tasks[0]  # ERP refuses the VAT number
    opportunity, contract = deal(engine, systems, runtime, sf_id, "Closed Won")
    route(engine)
    activation_id = f"activate-contract:default:{customer}:{contract}"
    assert settle(engine, activation_id, timeout_s=5, until=("running",)).status == "running"
    answer = _explain(engine, customer)
    assert answer.blocked and answer.waiting_step == "erp-create" and answer.task_id == task.id
    assert f"activate-contract waits for {onboarding.workflow_id} to finish" in " ".join(answer.reasons)
    decided = store.decide(engine.services.engine, task.id, TaskAction.RESOLVE, "finance@corp",
                           {"tax_id": be_vat(name)})
    engine.wake(decided.workflow_id, decided.id)
    done = settle(engine, onboarding.workflow_id, timeout_s=120)
    assert done.status == "completed" and done.result is not None and done.result["contract"] is None, done
    placed = settle(engine, activation_id, timeout_s=120)
    assert placed.status == "completed" and placed.result is not None, placed
    order = placed.result["detail"]["order"]
    erp: Any = engine.services.connector("tryton", "default")
    assert [s.number for s in erp.list_sales(int(done.result["erp_party_id"]))] == [order["number"]]
    won = next(o for o in systems.salesforce.state.store.snapshot("Opportunity") if o["Id"] == opportunity)
    assert won["Order_Number__c"] == order["number"]
    org = engine.services.connector("zendesk", "default").read("organizations", done.result["systems"]["zendesk"]
                                                    ["organization"])
    assert org is not None and org.fields["organization_fields"]["order_number"] == order["number"]
    assert ConsumerStore(engine.services.engine).dead_letters() == []
    assert _explain(engine, customer).reason == "nothing blocks this customer"
