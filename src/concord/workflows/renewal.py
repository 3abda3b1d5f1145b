"""Renewal and amendment of the customer's subscription, behind credit control (issue #5 part 5):

load the customer's systems → credit gate (ERP receivables and credit limit, billing's overdue invoices; on a
hold: CreditStatusChanged, CRM health, wait until ERP or finance clears it) → change the subscription in billing
(seats, plan) → the CRM account shows it. The provisioning step is what a hold pauses: nothing changes
downstream while the customer is blocked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from concord.connectors.base import ConnectorError
from concord.tasks.models import TaskKind
from concord.workflows.credit import credit_gate
from concord.workflows.engine import services
from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.lifecycle_model import AMEND, RENEW, AccountSystems, AmendRequest, ProcessResult, workflow_id
from concord.workflows.lifecycle_steps import load_account
from concord.workflows.runs import Cancelled, Problem, RunContext, ask, until_accepted
from concord.workflows.steps import Rejection, connector_call, durable_step, rejection_of

CORRECTABLE = ["seats", "plan_price"]


class CustomerVanished(LookupError):
    """The account was deleted between the start and the first step (the API checked that it existed)."""


class ChangeInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    subscription: str
    seats: int
    plan_price: str | None = None

    def corrected(self, corrections: dict[str, Any]) -> ChangeInput:
        return self.model_validate({**self.model_dump(), **corrections})


class ChangeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    subscription: str | None = None
    status: str | None = None
    quantity: int | None = None
    rejection: Rejection | None = None


@durable_step("change-subscription")
def change_subscription(data: ChangeInput) -> ChangeResult:
    """Seats and plan onto the billing subscription (sets values: a repeat changes nothing more)."""
    billing: Any = services().connector("stripe", data.tenant)
    try:
        with connector_call():
            if data.plan_price:
                record = billing.change_plan(data.subscription, data.plan_price, quantity=data.seats)
            else:
                record = billing.update("subscription", data.subscription, {"quantity": data.seats})
    except ConnectorError as error:
        return ChangeResult(rejection=rejection_of(error))
    services().faults.after_effect("change-subscription", data.subscription)
    return ChangeResult(subscription=record.id, status=record.fields.get("status"),
                        quantity=record.fields.get("quantity"))


def _subscription(run: RunContext, account: AccountSystems) -> str:
    """The billing subscription to change; a customer without one becomes a task (nothing to amend)."""
    if account.stripe_subscription:
        return account.stripe_subscription
    problem = Problem(kind=TaskKind.MISSING_DATA, system="stripe", fields=["subscription"],
                      message="the customer has no billing subscription to renew or amend")
    decision = ask(run, "find-subscription", 1, problem, ["subscription"], account.model_dump(mode="json"))
    found = decision.corrections.get("subscription")
    if not found:
        raise Cancelled("find-subscription", decision.actor)
    return str(found)


def _run(run: RunContext, request: AmendRequest) -> ProcessResult:
    account = load_account(run)
    if not account.found:
        raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
    standing, waited = credit_gate(run, account)
    subscription = _subscription(run, account)
    change, accepted = until_accepted(run, "change-subscription", change_subscription,
                                      ChangeInput(tenant=run.tenant, subscription=subscription, seats=request.seats,
                                                  plan_price=request.plan_price), CORRECTABLE)
    detail = {"subscription": change.subscription, "seats": accepted.seats, "plan_price": accepted.plan_price,
              "credit": standing.model_dump(mode="json"), "waited_for_credit": waited}
    return ProcessResult(status="completed", customer_id=run.customer_id, detail=detail)


def _context(process: str, request: AmendRequest) -> RunContext:
    wid = current_workflow_id() or workflow_id(process, request)
    return RunContext(process=process, workflow_id=wid, tenant=request.tenant, customer_id=request.customer_id,
                      correlation_id=request.correlation_id or wid)


def _guarded(process: str, request: AmendRequest) -> ProcessResult:
    run = _context(process, request)
    try:
        return _run(run, request)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)


@workflow(AMEND)
def amend_subscription(request: AmendRequest) -> ProcessResult:
    return _guarded(AMEND, request)


@workflow(RENEW)
def renew_subscription(request: AmendRequest) -> ProcessResult:
    return _guarded(RENEW, request)
