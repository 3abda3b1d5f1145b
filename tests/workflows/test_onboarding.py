"""Onboarding end to end: Salesforce, Stripe and Zendesk twins, a real SCIM server and a real Tryton ERP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from concord.connectors.tryton import TrytonConnector
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.tasks import store
from concord.tasks.models import TaskAction
from concord.workflows.engine import WorkflowEngine
from concord.workflows.onboarding import onboard_customer
from concord.workflows.onboarding_model import LegalEntity, OnboardRequest
from concord.workflows.processes import process_specs, start_process
from tests.workflows.support import Systems, crm_customer, settle

pytestmark = pytest.mark.tryton


def _erp(systems: Systems) -> TrytonConnector:
    connector = systems.build().build()["tryton"]
    assert isinstance(connector, TrytonConnector)
    return connector


def test_happy_path_creates_the_customer_everywhere_once(engine: WorkflowEngine, systems: Systems,
                                                         runtime: Runtime, database_url: str) -> None:
    customer, sf_id = crm_customer(systems, runtime, database_url, "Happy Path NV",
                                   Website="https://happy.example")
    spec = process_specs()["onboard-customer"]
    request = OnboardRequest(customer_id=customer, admin_email="it@happy.example", plan_price=systems.price(),
                             seats=5, legal_entity=LegalEntity(tax_id="BE0897290877", tax_id_type="eu_vat"))
    view = start_process(engine, spec, request)
    assert view.created and view.workflow_id == f"onboard:default:{customer}"
    done = settle(engine, view.workflow_id)
    assert done.status == "completed", done
    outcome = done.result
    assert outcome is not None
    party = _erp(systems).search("party", {"code": customer})
    assert len(party) == 1 and party[0].fields["address.country"] == "BE"
    account = next(a for a in systems.salesforce.state.store.snapshot("Account") if a["Id"] == sf_id)
    assert account["ERP_Customer_Number__c"] == customer
    assert account["Payment_Terms__c"] == "Net 30"  # mid-market by employee count (policy)
    assert {"scim", "zendesk", "stripe"} <= set(outcome["systems"])
    assert systems.scim.count("Group") >= 1
    rules = {d["table"]: d["rule_id"] for d in outcome["decisions"]}
    assert rules["tax_region"] == "eu-vat" and rules["classification"] == "mid-market"
    with engine.services.engine.connect() as conn:
        record = queries.golden_record(conn, customer)
        events = queries.outbox(conn, kind="event", canonical_id=customer)
    assert record is not None and record.value("lifecycle_state") == "active"
    assert record.value("erp_customer_number") == customer
    assert [e["type"] for e in events].count("CustomerOnboarded") == 1
    # the same business key again: the first run, nothing created twice
    again = start_process(engine, spec, request)
    assert not again.created and again.status == "completed"
    assert len(_erp(systems).search("party", {"code": customer})) == 1



def test_erp_rejection_opens_a_task_and_the_corrected_run_completes_with_one_party(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, _ = crm_customer(systems, runtime, database_url, "Bad Vat BV")
    request = OnboardRequest(customer_id=customer, admin_email="it@badvat.example",
                             legal_entity=LegalEntity(tax_id="BE0000000001", tax_id_type="eu_vat"))
    view = start_process(engine, process_specs()["onboard-customer"], request)
    waiting = settle(engine, view.workflow_id, until=("waiting", "completed", "failed"))
    assert waiting.status == "waiting", waiting
    task = waiting.open_tasks[0]
    assert (task.step, task.kind, task.system, task.customer_id) == ("erp-create", "rejected", "tryton", customer)
    assert task.fields == ["tax_id"] and "BE0000000001" in task.message
    assert task.correlation_id and "tax_id" in task.correctable and task.context["facts"]["tax_id"] == "BE0000000001"
    assert _erp(systems).search("party", {"code": customer}) == []

    decided = store.decide(engine.services.engine, task.id, TaskAction.RESOLVE, "finance@corp",
                           {"tax_id": "BE0477779834"})  # its own VAT: another's would link to that party
    engine.wake(decided.workflow_id, decided.id)
    done = settle(engine, view.workflow_id)
    assert done.status == "completed", done
    parties = _erp(systems).search("party", {"code": customer})
    assert len(parties) == 1 and parties[0].fields["tax_identifier.code"] == "BE0477779834"
    with pytest.raises(store.TaskClosed):
        store.decide(engine.services.engine, task.id, TaskAction.CANCEL, "someone")


def test_cancelling_a_task_ends_the_run_as_cancelled_and_creates_nothing_further(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id = crm_customer(systems, runtime, database_url, "Given Up SRL")
    request = OnboardRequest(customer_id=customer, legal_entity=LegalEntity(tax_id="BE0000000001"))
    view = start_process(engine, process_specs()["onboard-customer"], request)
    task = settle(engine, view.workflow_id, until=("waiting",)).open_tasks[0]
    store.decide(engine.services.engine, task.id, TaskAction.CANCEL, "sales-ops")
    engine.wake(task.workflow_id, task.id)
    done = settle(engine, view.workflow_id)
    assert done.status == "cancelled" and done.result is not None and done.result["cancelled_at"] == "erp-create"
    assert _erp(systems).search("party", {"code": customer}) == []
    assert systems.counters["salesforce"].count("PATCH", f"/sobjects/Account/{sf_id}") == 0


def test_a_lifecycle_move_the_state_machine_refuses_pauses_the_run_before_erp(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, _ = crm_customer(systems, runtime, database_url, "Closed Meanwhile AG")
    service = IngestService(engine.services.engine, runtime)
    service.start()
    service.ingest([ChangeCreate(system="concord", entity="account", external_id=customer, canonical_id=customer,
                                 fields={"lifecycle_state": "closed"}, source_ts=datetime.now(UTC),
                                 idempotency_key=f"close-{customer}")])
    service.stop()
    # started past the API's preflight, as if the customer was closed after the start was accepted
    workflow_id = f"onboard:default:{customer}"
    engine.start(onboard_customer, workflow_id, OnboardRequest(
        customer_id=customer, correlation_id="corr-closed",
        legal_entity=LegalEntity(tax_id="BE0897290877", tax_id_type="eu_vat")))
    task = settle(engine, workflow_id, until=("waiting",)).open_tasks[0]
    assert (task.step, task.fields, task.system) == ("set-lifecycle", ["lifecycle_state"], "concord")
    assert _erp(systems).search("party", {"code": customer}) == []
    store.decide(engine.services.engine, task.id, TaskAction.CANCEL, "sales-ops")
    engine.wake(task.workflow_id, task.id)
    assert settle(engine, workflow_id).status == "cancelled"


def test_a_party_erp_holds_under_a_variant_name_is_linked_not_created_again(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    erp = _erp(systems)
    vat = "BE0403170701"
    existing = erp.create("party", {"name": "ACME Corp.", "tax_identifier.type": "eu_vat",
                                    "tax_identifier.code": vat, "address.city": "Brussels",
                                    "address.country": "BE"}, "acme-before-concord")
    customer, sf_id = crm_customer(systems, runtime, database_url, "Acme Corporation",
                                   Website="https://acme.example")
    request = OnboardRequest(customer_id=customer, admin_email="it@acme.example",
                             legal_entity=LegalEntity(tax_id=vat, tax_id_type="eu_vat"))
    view = start_process(engine, process_specs()["onboard-customer"], request)
    done = settle(engine, view.workflow_id)
    assert done.status == "completed", done
    assert done.result is not None and done.result["erp_party_id"] == existing.id
    parties = [p for p in erp.search("party", {"name": "%acme%"}) if p.fields.get("tax_identifier.code") == vat]
    assert [p.id for p in parties] == [existing.id]  # exactly one party with that VAT: the pre-existing one
    assert erp.search("party", {"code": customer}) == []
    number = existing.fields["code"]
    account = next(a for a in systems.salesforce.state.store.snapshot("Account") if a["Id"] == sf_id)
    assert account["ERP_Customer_Number__c"] == number
    with engine.services.engine.connect() as conn:
        bound = {(b["system"], b["external_id"]) for b in queries.bindings_of(conn, customer)}
        record = queries.golden_record(conn, customer)
    assert ("tryton", existing.id) in bound
    assert record is not None and record.value("erp_customer_number") == number


def test_a_look_alike_of_a_known_customer_opens_a_duplicate_task_before_erp(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    first, _ = crm_customer(systems, runtime, database_url, "Globex Industries", Website="https://globex.example",
                            Phone="+32 2 555 01 01")
    # captured before the online check existed (a backfill): onboarding is the check that catches it
    second, _ = crm_customer(systems, runtime, database_url, "Globex Industries Inc.", online_check=False,
                             Website="https://www.globex.example", Phone="+32 2 555 01 01")
    request = OnboardRequest(customer_id=second, legal_entity=LegalEntity(tax_id="BE0897290877"))
    view = start_process(engine, process_specs()["onboard-customer"], request)
    task = settle(engine, view.workflow_id, until=("waiting",)).open_tasks[0]
    assert (task.step, task.kind) == ("duplicate-check", "duplicate")
    assert first in task.message and [c["canonical_id"] for c in task.context["candidates"]] == [first]
    assert _erp(systems).search("party", {"code": second}) == []
    store.decide(engine.services.engine, task.id, TaskAction.CANCEL, "steward")
    engine.wake(task.workflow_id, task.id)
    assert settle(engine, view.workflow_id).status == "cancelled"
