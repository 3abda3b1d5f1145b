"""Starting processes by name — from the process API, the CLI and event signals alike — and reading a run back.

Adding a process: write its workflow module (one per process), then one `ProcessSpec` in `process_specs()`
(request model, workflow id from the request, and the preflight that turns a bad start into 404/409 before
anything durable happens). See README "Workflows".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from concord.canonical.lifecycle import LifecycleState, check_transition
from concord.ids import new_id
from concord.storage import queries
from concord.tasks.models import TaskPublic, TaskStatus
from concord.tasks.store import list_tasks
from concord.workflows import onboarding
from concord.workflows.engine import WorkflowEngine
from concord.workflows.journal import Workflow
from concord.workflows.journal.runtime import tenant_of
from concord.workflows.onboarding_model import PROCESS as ONBOARD
from concord.workflows.onboarding_model import OnboardRequest, workflow_id_for

RunStatus = Literal["running", "waiting", "completed", "cancelled", "failed"]


class UnknownCustomer(LookupError):
    def __init__(self, customer_id: str, tenant: str) -> None:
        super().__init__(f"no account {customer_id!r} in tenant {tenant!r}")
        self.customer_id = customer_id


class StepView(BaseModel):
    """One recorded operation of a run: a step, or a message sent or received (`recv`, `send`)."""

    seq: int
    name: str
    failed: bool = Field(description="the step's recorded outcome is an error (it is raised again on replay)")
    at: datetime


class RunView(BaseModel):
    workflow_id: str
    process: str
    tenant: str | None = None
    status: RunStatus
    created: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    open_tasks: list[TaskPublic] = []
    parent: str | None = Field(default=None, description="the run that started this one as its child")
    started_at: datetime | None = None
    updated_at: datetime | None = None
    resumed: int = Field(default=0, description="times a process took the run over after its executor stopped")
    steps: list[StepView] = Field(default=[], description="the run's journal so far, oldest first")


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    request: type[BaseModel]
    workflow: Workflow[Any, Any]
    workflow_id: Callable[[Any], str]
    preflight: Callable[[Engine, Any], None]
    target_state: LifecycleState | None = None


def _customer_may_enter(state: LifecycleState) -> Callable[[Engine, Any], None]:
    def check(engine: Engine, request: Any) -> None:
        with engine.connect() as conn:
            record = queries.golden_record(conn, request.customer_id)
        if record is None or record.tenant != request.tenant or record.entity != "account":
            raise UnknownCustomer(request.customer_id, request.tenant)
        current = record.value("lifecycle_state")
        check_transition(None if current is None else LifecycleState(str(current)), state)  # IllegalTransition

    return check


def _onboarding_may_start(engine: Engine, request: Any) -> None:
    """A customer may enter onboarding; with a won deal (`contract_id`) a lead may too: the run converts it first
    (prospect → qualified through convert-lead, decision 076)."""
    if getattr(request, "contract_id", None) is not None:
        with engine.connect() as conn:
            record = queries.golden_record(conn, request.customer_id)
        if record is not None and record.value("lifecycle_state") == LifecycleState.PROSPECT.value:
            _customer_may_enter(LifecycleState.QUALIFIED)(engine, request)  # tenant and entity checked there
            return
    _customer_may_enter(LifecycleState.ONBOARDING)(engine, request)


def process_specs() -> dict[str, ProcessSpec]:
    return {ONBOARD: ProcessSpec(
        name=ONBOARD, request=OnboardRequest, workflow=onboarding.onboard_customer,
        workflow_id=lambda r: workflow_id_for(r.tenant, r.customer_id),
        preflight=_onboarding_may_start, target_state=LifecycleState.ONBOARDING)}


def start_process(engine: WorkflowEngine, spec: ProcessSpec, request: BaseModel) -> RunView:
    """Start `spec` for `request` unless a run with its business key exists: then that run, untouched."""
    workflow_id = spec.workflow_id(request)
    existing = run_view(engine, workflow_id)
    if existing is not None:
        return existing
    spec.preflight(engine.services.engine, request)
    if getattr(request, "correlation_id", "") is None:
        request = request.model_copy(update={"correlation_id": new_id()})
    engine.start(spec.workflow, workflow_id, request)
    view = run_view(engine, workflow_id)
    assert view is not None
    return view.model_copy(update={"created": True})


def run_view(engine: WorkflowEngine, workflow_id: str) -> RunView | None:
    """A run as the API shows it: its process (the workflow's registered name), status and open tasks (its
    children's included)."""
    status = engine.status(workflow_id)
    if status is None:
        return None
    with engine.services.engine.connect() as conn:
        tasks = list_tasks(conn, status=TaskStatus.OPEN, run=workflow_id)
    result = status.output.model_dump(mode="json") if isinstance(status.output, BaseModel) else None
    state: RunStatus
    if status.status == "SUCCESS":
        state = "cancelled" if result and result.get("status") == "cancelled" else "completed"
    elif status.status in ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
        state = "failed"
    elif status.status == "CANCELLED":
        state = "cancelled"
    else:
        state = "waiting" if tasks else "running"
    tenant = tenant_of(status.input)  # a child's input holds its parent's run context, which names the tenant
    steps = [StepView(seq=s.seq, name=s.name, failed=s.failed, at=_utc(s.at)) for s in engine.steps(workflow_id)]
    return RunView(workflow_id=workflow_id, process=status.name, tenant=tenant, status=state, result=result,
                   error=None if status.error is None else str(status.error), open_tasks=tasks,
                   parent=status.parent_workflow_id, started_at=_utc(status.created_at),
                   updated_at=_utc(status.updated_at), resumed=status.recovery_attempts, steps=steps)


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)
