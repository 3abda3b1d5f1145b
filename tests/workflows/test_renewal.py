"""Renewal/amendment behind credit control, against the twins and the real Tryton ERP (acceptance: a credit hold
pauses an amendment and its release resumes it)."""

from __future__ import annotations

from typing import Any

import pytest

from concord.events.produce import new_event
from concord.events.routing import WorkflowSignalTarget, load_routing
from concord.events.subscribers import WorkflowSignalSubscriber
from concord.hubconfig import Runtime
from concord.workflows.credit_signals import CreditSignalWaker
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.journal import steps_of
from concord.workflows.lifecycle_model import AMEND, APPLY_HOLD, RELEASE_HOLD, RENEW, AmendRequest, CreditHoldRequest
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.lifecycle_steps import RecordInput, ingest_fields
from concord.workflows.processes import run_view, start_process
from concord.workflows.runs import RunContext
from tests.workflows.lifecycle_support import event_types, finished, golden, onboarded, sf_account, wait_for
from tests.workflows.support import Systems

pytestmark = pytest.mark.tryton


@pytest.fixture
def workflow_settings(database_url: str) -> WorkflowSettings:
    # Paused runs re-read ERP only every minute here: a prompt resume proves release-credit-hold woke the run.
    return WorkflowSettings(database_url=database_url, sqlite_synchronous="NORMAL", task_poll_s=60.0)


def _quantity(engine: WorkflowEngine, subscription: str) -> Any:
    record = engine.services.connector("stripe", "default").read("subscription", subscription)
    assert record is not None
    return record.fields["quantity"]


def _steps(workflow_id: str) -> set[str]:
    return {step.name for step in steps_of(workflow_id)}


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
    paused = run_view(engine, view.workflow_id)
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


def _released_elsewhere(engine: WorkflowEngine, customer: str) -> None:
    """Finance lifts the hold with its own tool (a lifecycle change, not release-credit-hold); the event pipeline
    hands the CreditHoldReleased event to the credit-signals rule's subscriber."""
    run = RunContext(process="finance-tool", workflow_id=f"finance:{customer}", tenant="default",
                     customer_id=customer, correlation_id=f"finance:{customer}")
    ingest_fields(RecordInput(run=run, system="concord", external_id=customer, label="release",
                              fields={"lifecycle_state": "active"}))
    rule = load_routing(None, set(engine.services.events.types())).subscriptions["credit-signals"]
    assert isinstance(rule.subscriber, WorkflowSignalTarget) and "CreditHoldReleased" in rule.events
    event = new_event(engine.services.events, "CreditHoldReleased", "default", customer,
                      {"entity": "account", "canonical_id": customer, "source_system": "concord",
                       "field": "lifecycle_state", "before": "credit_hold", "after": "active"},
                      correlation_id=run.correlation_id, causation_id=run.correlation_id)
    with engine.services.engine.begin() as tx:
        WorkflowSignalSubscriber(rule.subscriber).handle(event, tx)


def test_a_hold_released_elsewhere_wakes_the_paused_amendment_through_its_signal(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, _, _ = onboarded(engine, systems, runtime, database_url, "Signal Path Oy")
    specs = lifecycle_specs()
    hold = CreditHoldRequest(customer_id=customer, reference="DUN-2", requested_by="finance")
    assert finished(engine, APPLY_HOLD, start_process(engine, specs[APPLY_HOLD], hold).workflow_id).status == \
        "completed"
    view = start_process(engine, specs[RENEW], AmendRequest(customer_id=customer, change_id="R-2027", seats=5))
    wait_for("the renewal to pause on credit", lambda: "crm-mark" in _steps(view.workflow_id))
    _released_elsewhere(engine, customer)
    assert CreditSignalWaker(engine).poll() == 1
    done = finished(engine, RENEW, view.workflow_id, timeout_s=30.0)  # well before the 60 s re-check
    assert done.status == "completed" and done.result is not None, done
    assert done.result["detail"]["waited_for_credit"] is True
    assert CreditSignalWaker(engine).poll() == 0  # the signal was consumed
