"""A deal won on a new customer (decision 076): onboarding started with the deal's `contract_id` (the closed-won
rule's `otherwise` branch) first sees the lead converted and, once the customer exists in ERP and downstream,
places the deal's order.

Both are child runs under the *same business keys* the routed starts use — `convert-lead:<tenant>:<customer>` and
`activate-contract:<tenant>:<customer>:<contract>` — so whichever starts a key first does the work and every other
start (the lead-conversion rule, a re-captured Closed Won, this onboarding after a crash) joins that one run: one
conversion, one order, whatever order the subscriptions run in.
"""

from __future__ import annotations

from typing import Any

from concord.canonical.lifecycle import LifecycleState
from concord.storage import queries
from concord.workflows import activate_contract, convert_lead
from concord.workflows.engine import services
from concord.workflows.journal import run_status, start_workflow
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    CONVERT_LEAD,
    ActivateContractRequest,
    ConvertLeadRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.onboarding_model import OnboardRequest
from concord.workflows.runs import RunContext
from concord.workflows.steps import durable_step

# Who the audit trail names for what onboarding does on a won deal's behalf.
ACTOR = "onboard-customer"


def conversion_request(run: RunContext, request: OnboardRequest) -> ConvertLeadRequest:
    return ConvertLeadRequest(tenant=run.tenant, customer_id=run.customer_id, correlation_id=run.correlation_id,
                              qualified_by=ACTOR, note=f"deal {request.contract_id} won in CRM")


def activation_request(run: RunContext, contract_id: str) -> ActivateContractRequest:
    return ActivateContractRequest(tenant=run.tenant, customer_id=run.customer_id, contract_id=contract_id,
                                   correlation_id=run.correlation_id, activated_by=ACTOR)


@durable_step("lead-conversion")
def lead_conversion(conversion: ConvertLeadRequest) -> bool:
    """Whether onboarding must wait for the lead's conversion: the customer is still a prospect (then this run
    starts it), or a conversion run exists (the lead-conversion rule started it: its CRM mark "Qualified" must
    land before onboarding's own marks, so onboarding joins it rather than racing it). Recorded: a replay takes
    the same branch."""
    with services().engine.connect() as conn:
        record = queries.golden_record(conn, conversion.customer_id)
    state = None if record is None or record.tenant != conversion.tenant else record.value("lifecycle_state")
    if state == LifecycleState.PROSPECT.value:
        return True
    return run_status(workflow_id(CONVERT_LEAD, conversion)) is not None


def convert_first(run: RunContext, request: OnboardRequest) -> None:
    """A lead with a won deal is converted before it is onboarded: start convert-lead, or join the run that
    already holds its key, and wait for it."""
    if request.contract_id is None:
        return
    conversion = conversion_request(run, request)
    if not lead_conversion(conversion):
        return
    handle = start_workflow(convert_lead.convert_lead, conversion, workflow_id(CONVERT_LEAD, conversion))
    handle.get_result()


def place_won_order(run: RunContext, contract_id: str | None) -> dict[str, Any] | None:
    """The won deal's order placed and confirmed in ERP and reported to CRM and support — by activate-contract
    under its own key, so a routed start of the same deal is this same run. Returns what the onboarding result
    shows of it."""
    if contract_id is None:
        return None
    activation = activation_request(run, contract_id)
    activation_id = workflow_id(ACTIVATE_CONTRACT, activation)
    handle = start_workflow(activate_contract.activate_contract, activation, activation_id)
    result: ProcessResult = handle.get_result()
    order = result.detail.get("order") or {}
    return {"workflow_id": activation_id, "contract_id": contract_id, "status": result.status,
            "order_id": order.get("id"), "order_number": order.get("number"), "order_state": order.get("state")}
