"""Credit hold and release (issue #5 part 5): finance puts a customer on hold or lifts it.

apply: lifecycle active → credit_hold (ingest derives CreditHoldApplied), credit status hold (CreditStatusChanged),
CRM account health and stage. release: lifecycle credit_hold → active (CreditHoldReleased), the credit status as
ERP now assesses it, CRM marked, and every renewal or amendment of the customer paused on credit is woken: it
re-checks ERP and goes on by itself when nothing else holds it. Both are audited.
"""

from __future__ import annotations

from concord.workflows.credit import CreditInput, credit_check
from concord.workflows.journal import current_workflow_id, list_runs, send, workflow
from concord.workflows.lifecycle_model import (
    AMEND,
    APPLY_HOLD,
    CREDIT_TOPIC,
    RELEASE_HOLD,
    RENEW,
    AccountSystems,
    CreditHoldRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.lifecycle_steps import (
    SF_CREDIT,
    SF_STAGE,
    AuditInput,
    RecordInput,
    audit,
    load_account,
    mark_crm,
    record_fields,
)
from concord.workflows.renewal import CustomerVanished
from concord.workflows.runs import Cancelled, RunContext
from concord.workflows.steps import durable_step


def paused_prefixes(tenant: str, customer_id: str) -> list[str]:
    return [f"{process}:{tenant}:{customer_id}:" for process in (AMEND, RENEW)]


@durable_step("find-paused")
def find_paused(run: RunContext) -> list[str]:
    """The customer's renewals and amendments still running (a run past its gate ignores a wake-up). A step:
    a replay sees the same list."""
    pending = list_runs(statuses=["PENDING"], prefixes=paused_prefixes(run.tenant, run.customer_id))
    return sorted(s.workflow_id for s in pending)


def _context(process: str, request: CreditHoldRequest) -> RunContext:
    wid = current_workflow_id() or workflow_id(process, request)
    return RunContext(process=process, workflow_id=wid, tenant=request.tenant, customer_id=request.customer_id,
                      correlation_id=request.correlation_id or wid)


def _account(run: RunContext) -> AccountSystems:
    account = load_account(run)
    if not account.found:
        raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
    return account


def _set_state(run: RunContext, account: AccountSystems, state: str, credit: str) -> None:
    record_fields(RecordInput(run=run, system="concord", external_id=run.customer_id, label=f"lifecycle-{state}",
                              fields={"lifecycle_state": state}))
    if account.tryton_party is not None:
        record_fields(RecordInput(run=run, system="tryton", external_id=account.tryton_party,
                                  label=f"credit-{credit}", fields={"credit_status": credit}))
    mark_crm(run, "mark", account.salesforce_id,
             {"Credit_Status__c": SF_CREDIT[credit], "Lifecycle_Stage__c": SF_STAGE[state]})


def _apply(run: RunContext, request: CreditHoldRequest) -> ProcessResult:
    account = _account(run)
    _set_state(run, account, "credit_hold", "hold")
    audit(AuditInput(run=run, actor=request.requested_by, action="customer.credit_hold.applied",
                     after={"reference": request.reference, "reason": request.reason}))
    return ProcessResult(status="completed", customer_id=run.customer_id, detail={"lifecycle_state": "credit_hold"})


def _release(run: RunContext, request: CreditHoldRequest) -> ProcessResult:
    account = _account(run)
    # Lifecycle first: the credit check below (and every woken run's) no longer counts Concord's own hold.
    record_fields(RecordInput(run=run, system="concord", external_id=run.customer_id, label="lifecycle-active",
                              fields={"lifecycle_state": "active"}))
    standing = credit_check(CreditInput(run=run, account=account))
    _set_state(run, account, "active", standing.status)
    audit(AuditInput(run=run, actor=request.requested_by, action="customer.credit_hold.released",
                     after={"reference": request.reference, "reason": request.reason,
                            "erp_credit": standing.status}))
    paused = find_paused(run)
    for paused_id in paused:
        send(paused_id, CREDIT_TOPIC, "released")
    return ProcessResult(status="completed", customer_id=run.customer_id,
                         detail={"lifecycle_state": "active", "erp_credit": standing.model_dump(mode="json"),
                                 "woken": paused})


@workflow(APPLY_HOLD)
def apply_credit_hold(request: CreditHoldRequest) -> ProcessResult:
    run = _context(APPLY_HOLD, request)
    try:
        return _apply(run, request)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)


@workflow(RELEASE_HOLD)
def release_credit_hold(request: CreditHoldRequest) -> ProcessResult:
    run = _context(RELEASE_HOLD, request)
    try:
        return _release(run, request)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
