"""convert-lead against the Salesforce twin: a prospect account captured from CRM is qualified in Concord and
its CRM stage marked Qualified, once per lead."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_model import CONVERT_LEAD, ConvertLeadRequest
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import start_process
from tests.workflows.lifecycle_support import event_types, golden, sf_account
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
