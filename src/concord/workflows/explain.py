""""Why is this customer blocked?" (issue #5 part 8): one answer from Concord's own store.

`explain` is pure: the golden record's values, the open exception tasks and the customer's workflow runs in, one
`Explanation` out (lifecycle state, the step waiting, the reason category, links to the task and the correlation
trail). It builds on the console's `why_blocked` (concord.console.blocked) for the detailed reasons, so the
console and this endpoint say the same thing. `gather` reads the facts. See docs/decisions/038.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from concord.console.blocked import CustomerFacts, why_blocked
from concord.storage import queries
from concord.tasks.models import TaskKind, TaskPublic, TaskStatus
from concord.tasks.store import list_tasks

Category = Literal["none", "finance_validation", "missing_master_data", "downstream_provisioning_failure",
                   "credit_hold", "awaiting_approval", "possible_duplicate", "policy", "account_status",
                   "data_residency"]

_DOWNSTREAM = {"scim", "zendesk", "stripe", "salesforce", "hubspot"}


class RunFact(BaseModel):
    workflow_id: str
    process: str
    status: str  # journal status: PENDING, SUCCESS, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED
    parent: str | None = None  # the run that started this one as its child


class Waiting(BaseModel):
    """A run of the won-deal path waiting on another run (decision 076): who waits, for whom, and why."""

    workflow_id: str
    step: str
    reason: str


class Explanation(BaseModel):
    customer_id: str
    blocked: bool
    lifecycle_state: str | None
    category: Category
    reason: str
    waiting_step: str | None = None
    workflow_id: str | None = None
    task_id: str | None = None
    links: dict[str, str] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list, description="every reason, most fundamental first")


def task_category(task: TaskPublic) -> Category:
    if task.kind == TaskKind.APPROVAL:
        return "awaiting_approval"
    if task.kind == TaskKind.MISSING_DATA:
        return "missing_master_data"
    if task.kind == TaskKind.DUPLICATE:
        return "possible_duplicate"
    if task.kind == TaskKind.INELIGIBLE:
        return "policy"
    if task.kind == TaskKind.RESIDENCY:  # a configuration gap (no endpoint in the tenant's region), not the data
        return "data_residency"
    if task.system == "tryton" or task.step.startswith("erp"):
        return "finance_validation"
    if task.system in _DOWNSTREAM or task.step.startswith(("provision", "change-", "cancel", "deprovision", "end-")):
        return "downstream_provisioning_failure"
    return "finance_validation" if task.kind == TaskKind.REJECTED else "downstream_provisioning_failure"


def _links(customer_id: str, task: TaskPublic | None, correlation_id: str | None) -> dict[str, str]:
    links = {"customer": f"/api/v1/customers/{customer_id}", "console": f"/console/customers/{customer_id}"}
    if task is not None:
        links["task"] = f"/api/v1/tasks/{task.id}"
    if correlation_id:
        links["correlation_trail"] = f"/console/customers/{customer_id}?correlation_id={correlation_id}"
    return links


def won_deal_waits(pending: list[RunFact]) -> list[Waiting]:
    """What the won-deal path's pending runs wait for: onboarding on the lead's conversion or on the deal's order
    (its children), an activation on an onboarding that does not carry its deal (it places the order after)."""
    onboarding = next((r for r in pending if r.process == "onboard-customer"), None)
    if onboarding is None:
        return []
    waits = []
    for run in pending:
        if run.process == "convert-lead":
            waits.append(Waiting(workflow_id=onboarding.workflow_id, step="convert-lead",
                                 reason=f"onboard-customer waits for {run.workflow_id} to qualify the lead "
                                        "(a deal won on a lead)"))
        elif run.process == "activate-contract" and run.parent == onboarding.workflow_id:
            waits.append(Waiting(workflow_id=onboarding.workflow_id, step="activate-contract",
                                 reason=f"onboard-customer waits for {run.workflow_id} to place the won deal's "
                                        "order in ERP"))
        elif run.process == "activate-contract":
            waits.append(Waiting(workflow_id=run.workflow_id, step="await-onboarding",
                                 reason=f"activate-contract waits for {onboarding.workflow_id} to finish before "
                                        "placing the won deal's order"))
    return waits


def explain(customer_id: str, values: dict[str, Any], tasks: list[TaskPublic], runs: list[RunFact]) -> Explanation:
    """The one answer: an open task explains most (it names step and system), then a credit hold with the run it
    pauses, then a blocking lifecycle state; otherwise the customer is not blocked."""
    state = values.get("lifecycle_state")
    credit = values.get("credit_status")
    facts = CustomerFacts(lifecycle_state=state, lifecycle_system="concord", credit_status=credit,
                          credit_system="tryton",
                          open_tasks=[t.model_dump(mode="json") for t in tasks])
    reasons = [r.message for r in why_blocked(facts)]
    pending = [r for r in runs if r.status in ("PENDING", "ENQUEUED")]
    waits = won_deal_waits(pending)
    base = {"customer_id": customer_id, "lifecycle_state": state, "reasons": reasons + [w.reason for w in waits]}
    if tasks:
        task = tasks[0]
        return Explanation(**base, blocked=True, category=task_category(task), waiting_step=task.step,
                           workflow_id=task.workflow_id, task_id=task.id,
                           reason=f"{task.process} waits at {task.step}: {task.system} — {task.message}",
                           links=_links(customer_id, task, task.correlation_id))
    if state == "credit_hold" or credit == "hold":
        run = next((r for r in pending if r.process in ("amend-subscription", "renew")), None)
        where = f"; {run.process} waits at credit-check" if run else ""
        return Explanation(**base, blocked=True, category="credit_hold",
                           reason=f"the customer is on credit hold{where}",
                           waiting_step="credit-check" if run else None, workflow_id=run.workflow_id if run else None,
                           links=_links(customer_id, None, run.workflow_id if run else None))
    if state in ("suspended", "closed"):
        return Explanation(**base, blocked=True, category="account_status", reason=f"the customer is {state}",
                           links=_links(customer_id, None, None))
    if waits:  # in progress, not blocked: no person needs to act
        return Explanation(**base, blocked=False, category="none", reason=waits[0].reason,
                           waiting_step=waits[0].step, workflow_id=waits[0].workflow_id,
                           links=_links(customer_id, None, waits[0].workflow_id))
    return Explanation(**base, blocked=False, category="none", reason="nothing blocks this customer",
                       links=_links(customer_id, None, None))


def run_prefixes(tenant: str, customer_id: str) -> list[str]:
    """Every process's workflow ids for this customer start with one of these (see lifecycle_model)."""
    from concord.workflows.lifecycle_model import (
        ACTIVATE_CONTRACT,
        AMEND,
        APPLY_HOLD,
        CLOSE,
        CONVERT_LEAD,
        RELEASE_HOLD,
        RENEW,
        SUSPEND,
        SYNC_BILLING,
    )

    processes = ("onboard", CONVERT_LEAD, ACTIVATE_CONTRACT, AMEND, RENEW, APPLY_HOLD, RELEASE_HOLD, SYNC_BILLING,
                 SUSPEND, CLOSE)
    return [f"{p}:{tenant}:{customer_id}" for p in processes]


def runs_of(statuses: list[Any]) -> list[RunFact]:
    """The journal's `RunStatus` rows (from the engine or a `JournalClient`) as facts."""
    return [RunFact(workflow_id=s.workflow_id, process=str(s.name), status=str(s.status),
                    parent=getattr(s, "parent_workflow_id", None)) for s in statuses]


def gather(conn: Connection, tenant: str, customer_id: str, runs: list[RunFact]) -> Explanation | None:
    """Read the golden record and open tasks, then explain; None for an unknown customer (or another tenant's)."""
    record = queries.golden_record(conn, customer_id)
    if record is None or record.entity != "account" or record.tenant != tenant:
        return None
    tasks = list_tasks(conn, status=TaskStatus.OPEN, customer_id=customer_id, limit=50)
    return explain(customer_id, record.values(), tasks, runs)
