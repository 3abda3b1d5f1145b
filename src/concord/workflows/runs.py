"""What every workflow shares: who the run is for, and the "try, and on a refusal ask a person" loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from concord.tasks.models import TaskAction, TaskCreate, TaskDecision, TaskKind
from concord.workflows.journal import StepRetriesExhausted
from concord.workflows.services import RegionRefused
from concord.workflows.steps import Rejection
from concord.workflows.waiting import await_decision


class RunContext(BaseModel):
    """The business identity of one run; the workflow id is its idempotency key."""

    model_config = ConfigDict(frozen=True)

    process: str
    workflow_id: str
    tenant: str
    customer_id: str
    correlation_id: str


class Cancelled(Exception):
    """A person cancelled the run from one of its tasks; the run ends as `cancelled`, not as an error."""

    def __init__(self, step: str, actor: str) -> None:
        super().__init__(f"cancelled at {step} by {actor}")
        self.step = step
        self.actor = actor


class Refusable(Protocol):
    @property
    def rejection(self) -> Rejection | None: ...


In = TypeVar("In", bound="Correctable")
Out = TypeVar("Out", bound=Refusable)
T = TypeVar("T")
R = TypeVar("R")


class Correctable(Protocol):
    def corrected(self: In, corrections: dict[str, Any]) -> In: ...

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...


class Problem(BaseModel):
    """Why a step cannot go on, before any system was called (missing data, a duplicate, a policy refusal)."""

    model_config = ConfigDict(frozen=True)

    kind: TaskKind
    system: str
    message: str
    fields: list[str]


def ask(run: RunContext, step: str, attempt: int, problem: Problem, correctable: list[str],
        context: dict[str, Any]) -> TaskDecision:
    """Open an exception task and wait for its decision; a cancel ends the run."""
    task = TaskCreate(tenant=run.tenant, customer_id=run.customer_id, workflow_id=run.workflow_id,
                      process=run.process, step=step, attempt=attempt, kind=problem.kind, system=problem.system,
                      message=problem.message, fields=problem.fields, correctable=correctable, context=context,
                      correlation_id=run.correlation_id)
    decision = await_decision(task)
    if decision.action == TaskAction.CANCEL:
        raise Cancelled(step, decision.actor)
    return decision


def correct(run: RunContext, step: str, attempt: int, problem: Problem, correctable: list[str],
            data: In) -> tuple[In, int]:
    """Ask a person about `problem`; the data with their corrections and the next attempt number. Corrections
    that do not validate open the next task instead of failing the run."""
    while True:
        decision = ask(run, step, attempt, problem, correctable, data.model_dump(mode="json"))
        attempt += 1
        if not decision.corrections:
            return data, attempt
        try:
            return data.corrected(decision.corrections), attempt
        except ValidationError as exc:
            fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
            problem = Problem(kind=problem.kind, system="concord", fields=fields,
                              message=f"the correction was refused: {exc.errors()[0]['msg']}")


def residency_problem(refused: RegionRefused) -> Problem:
    """A pinned tenant's step found no endpoint in its region: nothing was sent; the connections need fixing."""
    return Problem(kind=TaskKind.RESIDENCY, system=refused.system, message=str(refused), fields=[])


def until_resident(run: RunContext, step: str, call: Callable[[T], R], data: T) -> R:
    """`call(data)` for a step that has no refusal of its own to correct: a residency refusal opens a task and
    the step runs again once it is retried (after the connections were fixed) — resolve also retries."""
    attempt = 1
    while True:
        try:
            return call(data)
        except RegionRefused as refused:
            ask(run, step, attempt, residency_problem(refused), [], {"tenant": run.tenant, "system": refused.system})
            attempt += 1


def until_accepted(run: RunContext, step: str, call: Callable[[In], Out], data: In,
                   correctable: list[str]) -> tuple[Out, In]:
    """Run `call(data)` until the system accepts it: each refusal or exhausted retry becomes a task, and the
    decision's corrections feed the next attempt. Returns the result and the data that was finally accepted.
    A residency refusal (no endpoint in a pinned tenant's region) is a task too, sent nowhere meanwhile."""
    attempt = 1
    while True:
        try:
            result = call(data)
        except StepRetriesExhausted as exc:
            problem = Problem(kind=TaskKind.FAILED, system=step, message=str(exc.errors[-1] if exc.errors else exc),
                              fields=[])
        except RegionRefused as refused:
            problem = residency_problem(refused)
        else:
            if result.rejection is None:
                return result, data
            rejected = result.rejection
            problem = Problem(kind=TaskKind.REJECTED, system=rejected.system, message=rejected.message,
                              fields=rejected.fields)
        offered = [] if problem.kind == TaskKind.RESIDENCY else correctable  # nothing in the data fixes it
        data, attempt = correct(run, step, attempt, problem, offered, data)
