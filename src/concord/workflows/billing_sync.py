"""sync-billing-status (issue #5 part 2): invoices and receivables — open, overdue, paid — from ERP (Tryton) and
billing (Stripe) onto the CRM account, so sales sees them. Startable by an event (an invoice posted in ERP) with
the invoice as `trigger`: one run per trigger, a repeat of the same event changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import ConnectorError
from concord.workflows.engine import services
from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.lifecycle_model import (
    SYNC_BILLING,
    AccountSystems,
    BillingSyncRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.lifecycle_steps import load_account, mark_crm
from concord.workflows.renewal import CustomerVanished
from concord.workflows.runs import Cancelled, RunContext, until_resident
from concord.workflows.steps import RetryLater, connector_call, durable_step


class BillingFigures(BaseModel):
    """Open and overdue amounts (major currency units) and the open invoices of both systems."""

    model_config = ConfigDict(frozen=True)

    open_amount: Decimal = Decimal(0)
    overdue_amount: Decimal = Decimal(0)
    open_invoices: int = 0
    invoices: list[dict[str, Any]] = Field(default_factory=list)


def crm_fields(figures: BillingFigures) -> dict[str, Any]:
    """What sales sees on the account (pure): Paid when nothing is open, Overdue when anything is past due."""
    status = "Overdue" if figures.overdue_amount > 0 else "Open" if figures.open_invoices else "Paid"
    return {"Open_Receivables__c": float(figures.open_amount), "Overdue_Receivables__c": float(figures.overdue_amount),
            "Open_Invoices__c": figures.open_invoices, "Billing_Status__c": status}


def _erp(tenant: str, account: AccountSystems) -> BillingFigures:
    if account.tryton_party is None:
        return BillingFigures()
    erp: Any = services().connector("tryton", tenant)
    owed = erp.get_receivables(int(account.tryton_party))
    invoices = [{"system": "tryton", "number": i.number, "amount_to_pay": str(i.amount_to_pay)}
                for i in owed.open_invoices]
    return BillingFigures(open_amount=owed.receivable, overdue_amount=owed.overdue, open_invoices=len(invoices),
                          invoices=invoices)


def _billing(tenant: str, account: AccountSystems) -> BillingFigures:
    if account.stripe_customer is None:
        return BillingFigures()
    billing: Any = services().connector("stripe", tenant)
    owed = billing.receivables(account.stripe_customer)
    cents = Decimal(100)
    return BillingFigures(open_amount=Decimal(owed.open_amount) / cents,
                          overdue_amount=Decimal(owed.overdue_amount) / cents, open_invoices=owed.open_invoices,
                          invoices=[{"system": "stripe", "open": owed.open_invoices, "overdue": owed.overdue_invoices}])


class CollectInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext
    account: AccountSystems


@durable_step("collect-billing")
def collect_billing(data: CollectInput) -> BillingFigures:
    """Both systems' figures, summed (each customer is billed in one currency: the one policy gave it)."""
    try:
        with connector_call():
            erp, billing = _erp(data.run.tenant, data.account), _billing(data.run.tenant, data.account)
    except ConnectorError as error:  # a refused *read* says nothing about the customer's data: try again
        raise RetryLater(str(error)) from None
    return BillingFigures(open_amount=erp.open_amount + billing.open_amount,
                          overdue_amount=erp.overdue_amount + billing.overdue_amount,
                          open_invoices=erp.open_invoices + billing.open_invoices,
                          invoices=[*erp.invoices, *billing.invoices])


@workflow(SYNC_BILLING)
def sync_billing_status(request: BillingSyncRequest) -> ProcessResult:
    wid = current_workflow_id() or workflow_id(SYNC_BILLING, request)
    run = RunContext(process=SYNC_BILLING, workflow_id=wid, tenant=request.tenant, customer_id=request.customer_id,
                     correlation_id=request.correlation_id or wid)
    try:
        account = load_account(run)
        if not account.found:
            raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
        figures = until_resident(run, "collect-billing", collect_billing, CollectInput(run=run, account=account))
        fields = crm_fields(figures)
        mark_crm(run, "billing", account.salesforce_id, fields)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
    return ProcessResult(status="completed", customer_id=run.customer_id,
                         detail={"crm": fields, "invoices": figures.invoices})
