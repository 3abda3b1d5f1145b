"""convert-lead (issue #5 part 2): sales qualifies a lead into an account.

In the Salesforce org Concord talks to, a lead is a prospect Account (Lifecycle Stage "Prospect"; the twin has no
Lead object), so conversion is the lifecycle move prospect → qualified: recorded in Concord (the ownership gate and
the state machine decide, the event path publishes CustomerUpdated), the CRM account's stage marked Qualified,
and an audit entry naming who qualified it. One run per lead: converting the same lead twice returns the first.
"""

from __future__ import annotations

from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.lifecycle_model import CONVERT_LEAD, ConvertLeadRequest, ProcessResult, workflow_id
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
from concord.workflows.runs import Cancelled, RunContext

QUALIFIED = "qualified"


def _convert(run: RunContext, request: ConvertLeadRequest) -> ProcessResult:
    account = load_account(run)
    if not account.found:
        raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
    record_fields(RecordInput(run=run, system="concord", external_id=run.customer_id, label=f"lifecycle-{QUALIFIED}",
                              fields={"lifecycle_state": QUALIFIED}))
    mark_crm(run, "qualified", account.salesforce_id, {"Lifecycle_Stage__c": SF_STAGE[QUALIFIED]})
    audit(AuditInput(run=run, actor=request.qualified_by, action="customer.lead.converted",
                     after={"from": account.lifecycle_state, "to": QUALIFIED, "note": request.note}))
    return ProcessResult(status="completed", customer_id=run.customer_id,
                         detail={"lifecycle_state": QUALIFIED, "previous_state": account.lifecycle_state,
                                 "salesforce_id": account.salesforce_id})


@workflow(CONVERT_LEAD)
def convert_lead(request: ConvertLeadRequest) -> ProcessResult:
    wid = current_workflow_id() or workflow_id(CONVERT_LEAD, request)
    run = RunContext(process=CONVERT_LEAD, workflow_id=wid, tenant=request.tenant, customer_id=request.customer_id,
                     correlation_id=request.correlation_id or wid)
    try:
        return _convert(run, request)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
