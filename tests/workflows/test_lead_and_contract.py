"""convert-lead and activate-contract against the twins and the real Tryton ERP: a prospect captured from CRM is
qualified in Concord and CRM once per lead; a contract goes live on its confirmed ERP order, which flows to Concord
(ContractActivated), CRM and support, once per order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    CONVERT_LEAD,
    ActivateContractRequest,
    ConvertLeadRequest,
)
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import start_process
from tests.workflows.lifecycle_support import event_types, golden, onboarded, sf_account
from tests.workflows.support import Systems, crm_customer, settle

pytestmark = pytest.mark.tryton


def test_a_prospect_is_qualified_in_concord_and_crm_once(engine: WorkflowEngine, systems: Systems,
                                                         runtime: Runtime, database_url: str) -> None:
    lead, sf_id = crm_customer(systems, runtime, database_url, "Lead Prospect SA", Lifecycle_Stage__c="Prospect")
    service = IngestService(engine.services.engine, runtime)  # Concord owns the lifecycle: the lead starts there
    service.start()
    service.ingest([ChangeCreate(system="concord", entity="account", external_id=lead, canonical_id=lead,
                                 fields={"lifecycle_state": "prospect"}, source_ts=datetime.now(UTC),
                                 idempotency_key=f"lead-{lead}")])
    service.stop()
    assert golden(engine, lead, "lifecycle_state") == "prospect"
    request = ConvertLeadRequest(customer_id=lead, qualified_by="sam@sales")
    view = start_process(engine, lifecycle_specs()[CONVERT_LEAD], request)
    assert view.created and view.workflow_id == f"convert-lead:default:{lead}"
    done = settle(engine, view.workflow_id)
    assert done.status == "completed" and done.result is not None, done
    assert done.result["detail"]["previous_state"] == "prospect"
    assert golden(engine, lead, "lifecycle_state") == "qualified"
    assert sf_account(systems, sf_id)["Lifecycle_Stage__c"] == "Qualified"
    assert "CustomerUpdated" in event_types(engine, lead)
    again = start_process(engine, lifecycle_specs()[CONVERT_LEAD], request)
    assert not again.created and again.status == "completed"
    assert systems.counters["salesforce"].count("PATCH", f"/sobjects/Account/{sf_id}") <= 1


def _confirmed_order(engine: WorkflowEngine, systems: Systems, party: str) -> int:
    erp: Any = engine.services.connector("tryton", "default")
    company = systems.tryton.meta.companies[0]
    address, = erp.client.search("party.address", [["party", "=", int(party)]], limit=1)
    # A comment line is enough for Tryton to quote and confirm the order (no product or stock needed).
    order, = erp.client.create("sale.sale", [{
        "party": int(party), "company": company.id, "currency": company.currency, "invoice_address": address,
        "shipment_address": address, "description": "Annual contract",
        "lines": [["create", [{"type": "comment", "description": "Annual subscription, 5 seats"}]]]}])
    for button in ("quote", "confirm"):
        erp.client.button("sale.sale", button, [order], {"company": company.id})
    return int(order)


def test_a_contract_goes_live_on_its_confirmed_order_and_flows_to_crm_and_support(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Contract Holder GmbH")
    order = _confirmed_order(engine, systems, made["tryton"]["party"])
    request = ActivateContractRequest(customer_id=customer, order_id=order, activated_by="ops@corp")
    view = start_process(engine, lifecycle_specs()[ACTIVATE_CONTRACT], request)
    done = settle(engine, view.workflow_id)
    assert done.status == "completed" and done.result is not None, done
    detail = done.result["detail"]
    assert detail["order"]["id"] == order and detail["order"]["state"] == "confirmed"
    with engine.services.engine.connect() as conn:
        contract = queries.golden_record(conn, detail["contract_id"])
        events = [e["type"] for e in queries.outbox(conn, kind="event", canonical_id=detail["contract_id"])]
    assert contract is not None and contract.entity == "contract"
    assert contract.value("status") == "activated" and contract.value("account_id") == customer
    assert events.count("ContractActivated") == 1
    account = sf_account(systems, sf_id)
    assert account["Contract_Status__c"] == "Activated" and account["Order_Number__c"] == detail["order"]["number"]
    org = engine.services.connector("zendesk", "default").read("organizations", made["zendesk"]["organization"])
    assert org is not None and {"contract_active", f"contract_{order}"} <= set(org.fields["tags"])
    again = start_process(engine, lifecycle_specs()[ACTIVATE_CONTRACT], request)
    assert not again.created and again.status == "completed"
