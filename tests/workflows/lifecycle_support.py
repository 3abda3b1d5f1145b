"""Helpers for the lifecycle-process tests: an onboarded customer, reads of the twins, waiting on runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from concord.hubconfig import Runtime
from concord.storage import queries
from concord.tasks.models import TaskPublic, TaskStatus
from concord.tasks.store import list_tasks
from concord.workflows.engine import WorkflowEngine
from concord.workflows.onboarding_model import LegalEntity, OnboardRequest
from concord.workflows.processes import RunView, process_specs, run_view, start_process
from tests.workflows.support import Systems, be_vat, crm_customer, settle


def onboarded(engine: WorkflowEngine, systems: Systems, runtime: Runtime, url: str, name: str,
              seats: int = 5) -> tuple[str, str, dict[str, dict[str, str]]]:
    """A customer taken through onboarding: (Concord id, Salesforce id, the systems onboarding created)."""
    customer, sf_id = crm_customer(systems, runtime, url, name)
    request = OnboardRequest(customer_id=customer, admin_email=f"it-{customer[-6:]}@example.com",
                             plan_price=systems.price(), seats=seats,
                             legal_entity=LegalEntity(tax_id=be_vat(name), tax_id_type="eu_vat"))
    view = start_process(engine, process_specs()["onboard-customer"], request)
    done = settle(engine, view.workflow_id)
    assert done.status == "completed" and done.result is not None, done
    return customer, sf_id, done.result["systems"]


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished(engine: WorkflowEngine, process: str, workflow_id: str, timeout_s: float = 60.0) -> RunView:
    def done() -> RunView | None:
        view = run_view(engine, workflow_id)
        return view if view is not None and view.status in ("completed", "cancelled", "failed") else None

    found: RunView = wait_for(f"{workflow_id} to finish", done, timeout_s)
    return found


def open_task(engine: WorkflowEngine, workflow_id: str, attempt: int) -> TaskPublic:
    def find() -> TaskPublic | None:
        with engine.services.engine.connect() as conn:
            tasks = list_tasks(conn, status=TaskStatus.OPEN, workflow_id=workflow_id)
        return next((t for t in tasks if t.attempt == attempt), None)

    task: TaskPublic = wait_for(f"task {attempt} of {workflow_id}", find)
    return task


def golden(engine: WorkflowEngine, customer: str, path: str) -> Any:
    with engine.services.engine.connect() as conn:
        record = queries.golden_record(conn, customer)
    return None if record is None else record.value(path)


def event_types(engine: WorkflowEngine, customer: str) -> list[str]:
    with engine.services.engine.connect() as conn:
        return [e["type"] for e in queries.outbox(conn, kind="event", canonical_id=customer, limit=1000)]


def sf_account(systems: Systems, sf_id: str) -> dict[str, Any]:
    account: dict[str, Any] = next(a for a in systems.salesforce.state.store.snapshot("Account") if a["Id"] == sf_id)
    return account


