"""Processes started by routed events, end to end with the twins and the real Tryton: a Salesforce Opportunity
captured as a canonical contract goes through the bundled routing rules (events.yaml) to the signal starter. A
new deal on a lead converts the lead; Closed Won onboards a new customer or, for an active one, activates the
contract — the order placed and confirmed in Tryton, its number and status back on the Opportunity and on the
Zendesk entitlement. A start no process may make is recorded as a dead letter and the queue moves on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from concord.events.store import ConsumerStore
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.storage import queries
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import process_specs, run_view
from concord.workflows.signals import SignalStarter
from tests.workflows.lifecycle_support import event_types, golden, onboarded
from tests.workflows.routing_support import deal, ingest, prospect, route
from tests.workflows.support import Systems, crm_customer, settle

pytestmark = pytest.mark.tryton


def test_a_deal_converts_the_lead_and_closed_won_onboards_the_new_customer(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id = prospect(engine, systems, runtime, database_url, "Routed Lead Corp")
    opportunity, contract = deal(engine, systems, runtime, sf_id, "Prospecting")
    with engine.services.engine.connect() as conn:
        record = queries.golden_record(conn, contract)
    assert record is not None and record.value("sales_stage") == "prospecting"
    assert record.value("account_id") == customer
    route(engine)
    converted = settle(engine, f"convert-lead:default:{customer}")
    assert converted.status == "completed" and golden(engine, customer, "lifecycle_state") == "qualified"
    deal(engine, systems, runtime, sf_id, "Closed Won", opportunity)
    route(engine)
    # qualified: not a customer whose contract can be activated yet, so the won deal onboards it
    assert run_view(engine, f"activate-contract:default:{customer}:{contract}") is None
    onboarding = settle(engine, f"onboard:default:{customer}")
    assert onboarding.status == "completed", onboarding
    assert golden(engine, customer, "lifecycle_state") == "active"
    assert ConsumerStore(engine.services.engine).dead_letters() == []


def test_closed_won_on_an_active_customer_places_the_order_and_it_flows_to_crm_and_support(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Routed Customer AG")
    opportunity, contract = deal(engine, systems, runtime, sf_id, "Negotiation/Review")
    route(engine)  # a deal on a customer is no lead: nothing starts, nothing is recorded
    assert run_view(engine, f"convert-lead:default:{customer}") is None
    deal(engine, systems, runtime, sf_id, "Closed Won", opportunity)
    route(engine)
    run = settle(engine, f"activate-contract:default:{customer}:{contract}")
    assert run.status == "completed" and run.result is not None, run
    order = run.result["detail"]["order"]
    party = int(made["tryton"]["party"])
    sales = engine.services.connector("tryton", "default").list_sales(party)  # type: ignore[attr-defined]
    assert [(s.id, s.number) for s in sales] == [(order["id"], order["number"])]
    assert sales[0].state in ("confirmed", "processing", "done")
    assert golden(engine, contract, "number") == order["number"]
    assert golden(engine, contract, "status") == "activated"
    assert event_types(engine, contract).count("ContractActivated") == 1
    won: dict[str, Any] = next(o for o in systems.salesforce.state.store.snapshot("Opportunity")
                               if o["Id"] == opportunity)
    assert (won["Order_Number__c"], won["Contract_Status__c"]) == (order["number"], "Activated")
    org = engine.services.connector("zendesk", "default").read("organizations", made["zendesk"]["organization"])
    assert org is not None
    assert org.fields["organization_fields"]["order_number"] == order["number"]
    assert org.fields["organization_fields"]["contract_status"] == "active"
    # The same won deal seen again (a re-capture, a redelivery) places nothing twice.
    deal(engine, systems, runtime, sf_id, "Closed Won", opportunity)
    route(engine)
    assert len(engine.services.connector("tryton", "default").list_sales(party)) == 1  # type: ignore[attr-defined]


def test_a_refused_start_is_dead_lettered_and_the_queue_moves_on(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    closed, closed_sf = crm_customer(systems, runtime, database_url, "Closed Shop Ltd")
    ingest(engine, runtime, ChangeCreate(system="concord", entity="account", external_id=closed,
                                         canonical_id=closed, fields={"lifecycle_state": "closed"},
                                         source_ts=datetime.now(UTC), idempotency_key=f"close-{closed}"))
    _, contract = deal(engine, systems, runtime, closed_sf, "Closed Won")  # first in the queue: refused
    lead, lead_sf = prospect(engine, systems, runtime, database_url, "Queued Lead BV")
    deal(engine, systems, runtime, lead_sf, "Prospecting")  # behind it: must still start
    assert route(engine) >= 2
    assert settle(engine, f"convert-lead:default:{lead}").status == "completed"
    [letter] = ConsumerStore(engine.services.engine).dead_letters("closed-won")
    assert letter.customer_key == closed and letter.envelope.data["canonical_id"] == contract
    assert letter.error.startswith("start refused: activate-contract: ")
    assert "onboard-customer: illegal lifecycle transition closed → onboarding" in letter.error
    assert SignalStarter(engine, {**process_specs(), **lifecycle_specs()}).poll() == 0  # nothing left behind


def test_a_refused_won_deal_starts_after_the_fix_when_its_dead_letter_is_retried(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Paused Winner SARL")
    lifecycle(engine, runtime, customer, "suspended")
    _, contract = deal(engine, systems, runtime, sf_id, "Closed Won")
    route(engine, ("closed-won",))  # suspended: neither activation nor onboarding may start
    store = ConsumerStore(engine.services.engine)
    [letter] = store.dead_letters("closed-won")
    assert "activate-contract: a contract activation is not allowed while the customer is suspended" in letter.error
    assert f"onboard-customer: its run onboard:default:{customer} has already ended (completed)" in letter.error
    lifecycle(engine, runtime, customer, "active")  # reinstated
    store.retry_dead_letter(letter)  # `concord dlq retry`: the event goes to its subscription again
    assert route(engine, ("closed-won",)) == 1
    run = settle(engine, f"activate-contract:default:{customer}:{contract}")
    assert run.status == "completed", run
    assert len(engine.services.connector("tryton", "default").list_sales(int(made["tryton"]["party"]))) == 1  # type: ignore[attr-defined]
    assert store.dead_letters("closed-won") == []


def lifecycle(engine: WorkflowEngine, runtime: Runtime, customer: str, state: str) -> None:
    ingest(engine, runtime, ChangeCreate(system="concord", entity="account", external_id=customer,
                                         canonical_id=customer, fields={"lifecycle_state": state},
                                         source_ts=datetime.now(UTC), idempotency_key=f"{state}-{customer}"))
