"""Suspension and closure (issue #5 part 6): a governed workflow.

request (audited) → approval by a SECOND person (an exception task of kind `approval`: resolve approves, cancel
rejects; a decision by the requester is not an approval and re-opens the task) → deprovision identity (SCIM
users deactivated) → end the support entitlement (Zendesk organization tagged) → [close: cancel the billing
subscription, archive the ERP party] → mark CRM → lifecycle suspended / closed (ingest derives AccountSuspended /
AccountClosed) → done (audited). Each downstream refusal becomes an exception task. See docs/decisions/037.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import ConnectorError
from concord.tasks.models import TaskAction, TaskKind
from concord.workflows.engine import services
from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.lifecycle_model import (
    CLOSE,
    SUSPEND,
    AccountSystems,
    GovernedRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.lifecycle_steps import (
    SF_STAGE,
    AuditInput,
    RecordInput,
    audit,
    load_account,
    mark_crm,
    record_fields,
)
from concord.workflows.renewal import CustomerVanished
from concord.workflows.runs import Cancelled, Problem, RunContext, ask, until_accepted
from concord.workflows.steps import Rejection, connector_call, durable_step, rejection_of

Mode = Literal["suspended", "closed"]


class Downstream(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext
    account: AccountSystems
    mode: Mode

    def corrected(self, corrections: dict[str, Any]) -> Downstream:
        return self  # nothing to correct: a retry repeats the same change


class SystemResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    done: dict[str, str] = Field(default_factory=dict)
    rejection: Rejection | None = None


def _act(system: str, customer_id: str, action: Callable[[], dict[str, str]]) -> SystemResult:
    try:
        with connector_call():
            done = action()
    except ConnectorError as error:
        return SystemResult(system=system, rejection=rejection_of(error))
    services().faults.after_effect(f"{system}-deprovision", customer_id)
    return SystemResult(system=system, done=done)


@durable_step("deprovision-identity")
def deprovision_identity(data: Downstream) -> SystemResult:
    """The customer's SCIM users lose access (active false: an update, repeatable; the group stays for audit)."""
    scim = services().connector("scim", data.run.tenant)
    user = data.account.scim_user

    def act() -> dict[str, str]:
        if user is None:
            return {}
        scim.update("Users", user, {"active": False})
        return {"user": user}

    return _act("scim", data.run.customer_id, act)


@durable_step("end-entitlement")
def end_entitlement(data: Downstream) -> SystemResult:
    """The support organization loses its entitlement tier: tagged with the new status (a set, repeatable)."""
    zendesk = services().connector("zendesk", data.run.tenant)
    org = data.account.zendesk_organization

    def act() -> dict[str, str]:
        if org is None:
            return {}
        zendesk.update("organizations", org, {"tags": [f"account_{data.mode}", "entitlement_ended"]})
        return {"organization": org}

    return _act("zendesk", data.run.customer_id, act)


@durable_step("cancel-subscription")
def cancel_subscription(data: Downstream) -> SystemResult:
    """Cancel the billing subscription now (a repeat finds it canceled)."""
    billing: Any = services().connector("stripe", data.run.tenant)
    sub = data.account.stripe_subscription

    def act() -> dict[str, str]:
        if sub is None:
            return {}
        return {"subscription": sub, "status": str(billing.cancel_subscription(sub).fields.get("status"))}

    return _act("stripe", data.run.customer_id, act)


@durable_step("archive-erp-party")
def archive_erp_party(data: Downstream) -> SystemResult:
    """The ERP party is archived (active false): Tryton keeps it and its accounting, new documents refuse it."""
    erp = services().connector("tryton", data.run.tenant)
    party = data.account.tryton_party

    def act() -> dict[str, str]:
        if party is None:
            return {}
        erp.update("party", party, {"active": False})
        return {"party": party}

    return _act("tryton", data.run.customer_id, act)


def approval(run: RunContext, request: GovernedRequest, what: str) -> str:
    """Block until someone other than the requester approves; their name. A cancel (a rejection) ends the run."""
    attempt, message = 1, f"{what} requested by {request.requested_by}: {request.reason} — a second person approves"
    context = {"requested_by": request.requested_by, "reason": request.reason, "case_id": request.case_id}
    while True:
        problem = Problem(kind=TaskKind.APPROVAL, system="concord", message=message, fields=[])
        decision = ask(run, "approval", attempt, problem, [], context)
        attempt += 1
        if decision.action == TaskAction.RESOLVE and decision.actor != request.requested_by:
            return decision.actor
        message = (f"{decision.actor} cannot approve their own request: {what} still needs a second person"
                   if decision.actor == request.requested_by else f"{what} still needs an approval (resolve)")


STEPS: dict[Mode, list[tuple[str, Callable[[Downstream], SystemResult]]]] = {
    "suspended": [("deprovision-identity", deprovision_identity), ("end-entitlement", end_entitlement)],
    "closed": [("deprovision-identity", deprovision_identity), ("end-entitlement", end_entitlement),
               ("cancel-subscription", cancel_subscription), ("archive-erp-party", archive_erp_party)],
}


def _lifecycle(run: RunContext, account: AccountSystems, mode: Mode) -> None:
    states = ["suspended", "closed"] if mode == "closed" and account.lifecycle_state in ("active", "credit_hold") \
        else [mode]  # active cannot close directly: it passes through suspended
    for state in states:
        record_fields(RecordInput(run=run, system="concord", external_id=run.customer_id,
                                  label=f"lifecycle-{state}", fields={"lifecycle_state": state}))


def _govern(run: RunContext, request: GovernedRequest, mode: Mode) -> ProcessResult:
    what = "suspension" if mode == "suspended" else "closure"
    audit(AuditInput(run=run, actor=request.requested_by, action=f"customer.{what}.requested",
                     after={"case_id": request.case_id, "reason": request.reason}))
    try:
        approver = approval(run, request, what)
    except Cancelled as rejected:
        audit(AuditInput(run=run, actor=rejected.actor, action=f"customer.{what}.rejected"))
        return ProcessResult(status="rejected", customer_id=run.customer_id, cancelled_at=rejected.step)
    audit(AuditInput(run=run, actor=approver, action=f"customer.{what}.approved"))
    account = load_account(run)
    if not account.found:
        raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
    done: dict[str, dict[str, str]] = {}
    for step, call in STEPS[mode]:
        result, _ = until_accepted(run, step, call, Downstream(run=run, account=account, mode=mode), [])
        done[result.system] = result.done
    mark_crm(run, "mark", account.salesforce_id, {"Lifecycle_Stage__c": SF_STAGE[mode]})
    _lifecycle(run, account, mode)
    audit(AuditInput(run=run, actor=approver, action=f"customer.{what}.completed", after={"systems": done}))
    return ProcessResult(status="completed", customer_id=run.customer_id, approved_by=approver,
                         detail={"lifecycle_state": mode, "systems": done})


def _guarded(process: str, request: GovernedRequest, mode: Mode) -> ProcessResult:
    wid = current_workflow_id() or workflow_id(process, request)
    run = RunContext(process=process, workflow_id=wid, tenant=request.tenant, customer_id=request.customer_id,
                     correlation_id=request.correlation_id or wid)
    try:
        return _govern(run, request, mode)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)


@workflow(SUSPEND)
def suspend_account(request: GovernedRequest) -> ProcessResult:
    return _guarded(SUSPEND, request, "suspended")


@workflow(CLOSE)
def close_account(request: GovernedRequest) -> ProcessResult:
    return _guarded(CLOSE, request, "closed")
