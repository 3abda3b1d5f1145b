"""Renewal/amendment behind credit control, against the twins and the real Tryton ERP (acceptance: a credit hold
pauses an amendment and its release resumes it)."""

from __future__ import annotations

from typing import Any

import pytest
from dbos import DBOS

from concord.hubconfig import Runtime
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.lifecycle_model import AMEND, APPLY_HOLD, RELEASE_HOLD, AmendRequest, CreditHoldRequest
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import run_view, start_process
from tests.workflows.lifecycle_support import event_types, finished, golden, onboarded, sf_account, wait_for
from tests.workflows.support import Systems

pytestmark = pytest.mark.tryton


@pytest.fixture
def workflow_settings(database_url: str) -> WorkflowSettings:
    # Paused runs re-read ERP only every minute here: a prompt resume proves release-credit-hold woke the run.
    return WorkflowSettings(database_url=database_url, sqlite_synchronous="NORMAL", task_poll_s=60.0)


def _quantity(engine: WorkflowEngine, subscription: str) -> Any:
    record = engine.services.connector("stripe").read("subscription", subscription)
    assert record is not None
    return record.fields["quantity"]


def _steps(workflow_id: str) -> set[str]:
    return {str(step["function_name"]) for step in DBOS.list_workflow_steps(workflow_id)}


def test_credit_hold_pauses_an_amendment_and_release_resumes_it(engine: WorkflowEngine, systems: Systems,
                                                                 runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Credit Control BV")
    subscription = made["stripe"]["subscription"]
    specs = lifecycle_specs()
    hold = CreditHoldRequest(customer_id=customer, reference="DUN-1", reason="two invoices 60 days late",
                             requested_by="finance@example.com")
    applied = finished(engine, APPLY_HOLD, start_process(engine, specs[APPLY_HOLD], hold).workflow_id)
    assert applied.status == "completed" and golden(engine, customer, "lifecycle_state") == "credit_hold"

    amend = AmendRequest(customer_id=customer, change_id="Q-100", seats=9)
    view = start_process(engine, specs[AMEND], amend)
    assert view.created and view.workflow_id == f"{AMEND}:default:{customer}:Q-100"
    wait_for("the amendment to pause on credit", lambda: "crm-mark" in _steps(view.workflow_id))
    paused = run_view(engine, AMEND, view.workflow_id)
    assert paused is not None and paused.status == "running" and not paused.open_tasks
    assert _quantity(engine, subscription) == 5  # provisioning paused: billing untouched
    assert sf_account(systems, sf_id)["Credit_Status__c"] == "Hold"
    assert {"CreditHoldApplied", "CreditStatusChanged"} <= set(event_types(engine, customer))

    release = hold.model_copy(update={"reference": "DUN-1-PAID"})
    released = finished(engine, RELEASE_HOLD, start_process(engine, specs[RELEASE_HOLD], release).workflow_id)
    assert released.status == "completed" and released.result is not None
    assert released.result["detail"]["woken"] == [view.workflow_id]
    done = finished(engine, AMEND, view.workflow_id, timeout_s=30.0)
    assert done.status == "completed" and done.result is not None, done
    assert done.result["detail"]["waited_for_credit"] is True
    assert _quantity(engine, subscription) == 9
    assert golden(engine, customer, "lifecycle_state") == "active"
    assert sf_account(systems, sf_id)["Credit_Status__c"] == "OK"
    assert "CreditHoldReleased" in event_types(engine, customer)

    again = start_process(engine, specs[AMEND], amend)  # same business key: the first run, nothing twice
    assert not again.created and again.workflow_id == view.workflow_id and again.status == "completed"
    assert systems.counters["stripe"].count("POST", f"/v1/subscriptions/{subscription}") == 1
