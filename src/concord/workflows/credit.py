"""Credit control before a renewal or amendment (issue #5 part 5).

`assess` (pure) decides from ERP receivables, the ERP credit limit, billing's overdue invoices and the
customer's lifecycle state. `credit_gate` runs inside a workflow: on a hold it records the credit status
(ingest derives CreditStatusChanged, whose routing rule notifies customer success), marks the CRM account's
health, and waits durably — re-reading ERP every `task_poll_s`, or sooner when release-credit-hold sends on the
`credit` topic — until the hold is cleared; then it records the clearance and the run goes on by itself.
See docs/decisions/035.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from concord.connectors.base import ConnectorError, NotFound
from concord.storage import queries
from concord.workflows.engine import engine_settings, services
from concord.workflows.journal import recv
from concord.workflows.lifecycle_model import CREDIT_TOPIC, AccountSystems, CreditStanding
from concord.workflows.lifecycle_steps import SF_CREDIT, RecordInput, mark_crm, record_fields
from concord.workflows.runs import RunContext, until_resident
from concord.workflows.steps import RetryLater, connector_call, durable_step


class ErpCredit(BaseModel):
    """What ERP and billing said, as plain data (the input of `assess`)."""

    model_config = ConfigDict(frozen=True)

    receivable: Decimal = Decimal(0)
    overdue: Decimal = Decimal(0)
    credit_limit: Decimal | None = None
    billing_overdue_cents: int = 0
    open_invoices: list[dict[str, Any]] = []
    lifecycle_state: str | None = None


def assess(facts: ErpCredit) -> CreditStanding:
    """Hold when the customer is on credit hold in Concord, has overdue receivables in ERP or billing, or owes
    ERP more than its credit limit; review when it owes more than 80 % of the limit; ok otherwise."""
    reasons = []
    if facts.lifecycle_state == "credit_hold":
        reasons.append("finance placed the customer on credit hold")
    if facts.overdue > 0:
        reasons.append(f"overdue receivables in ERP: {facts.overdue}")
    if facts.billing_overdue_cents > 0:
        reasons.append(f"overdue billing invoices: {facts.billing_overdue_cents / 100:.2f}")
    limit = facts.credit_limit
    if limit is not None and facts.receivable > limit:
        reasons.append(f"receivables {facts.receivable} exceed the credit limit {limit}")
    review = not reasons and limit is not None and limit > 0 and facts.receivable > limit * Decimal("0.8")
    status = "hold" if reasons else "review" if review else "ok"
    return CreditStanding(hold=bool(reasons), status=status, reasons=reasons, receivable=str(facts.receivable),
                          overdue=str(facts.overdue), credit_limit=None if limit is None else str(limit),
                          billing_overdue_cents=facts.billing_overdue_cents, open_invoices=facts.open_invoices)


class CreditInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext
    account: AccountSystems


def _erp_facts(tenant: str, account: AccountSystems) -> dict[str, Any]:
    if account.tryton_party is None:
        return {}
    erp: Any = services().connector("tryton", tenant)
    party = int(account.tryton_party)
    owed = erp.get_receivables(party)
    invoices = [{"system": "tryton", "number": i.number, "state": i.state, "total": str(i.total),
                 "amount_to_pay": str(i.amount_to_pay),
                 "invoice_date": None if i.invoice_date is None else i.invoice_date.isoformat()}
                for i in owed.open_invoices]
    return {"receivable": owed.receivable, "overdue": owed.overdue, "credit_limit": erp.get_credit_limit(party),
            "open_invoices": invoices}


def _billing_overdue(tenant: str, account: AccountSystems) -> int:
    if account.stripe_customer is None or not services().configured("stripe"):
        return 0
    billing: Any = services().connector("stripe", tenant)
    return int(billing.receivables(account.stripe_customer).overdue_amount)


def _lifecycle_now(run: RunContext) -> str | None:
    # Re-read at each check: release-credit-hold changes it while the run waits.
    with services().engine.connect() as conn:
        record = queries.golden_record(conn, run.customer_id)
    value = None if record is None else record.value("lifecycle_state")
    return None if value is None else str(value)


@durable_step("credit-check")
def credit_check(data: CreditInput) -> CreditStanding:
    """ERP receivables, overdue lines and credit limit, billing's overdue invoices, and the lifecycle state."""
    try:
        with connector_call():
            facts = ErpCredit(**_erp_facts(data.run.tenant, data.account),
                              billing_overdue_cents=_billing_overdue(data.run.tenant, data.account),
                              lifecycle_state=_lifecycle_now(data.run))
    except NotFound as error:
        raise RetryLater(f"ERP party of {data.run.customer_id} not found: {error.message}") from None
    except ConnectorError as error:  # a refusal to *read* is not the customer's data: try again later
        raise RetryLater(str(error)) from None
    return assess(facts)


def _record_credit(run: RunContext, account: AccountSystems, standing: CreditStanding, label: str) -> None:
    if account.tryton_party is not None:
        # credit_status is ERP-owned: recorded as what ERP's credit control says now.
        record_fields(RecordInput(run=run, system="tryton", external_id=account.tryton_party, label=label,
                                  fields={"credit_status": standing.status}))
    mark_crm(run, label, account.salesforce_id, {"Credit_Status__c": SF_CREDIT[standing.status]})


def credit_gate(run: RunContext, account: AccountSystems) -> tuple[CreditStanding, bool]:
    """Return once the customer's credit allows the change: the final standing, and whether the run waited."""
    standing = until_resident(run, "credit-check", credit_check, CreditInput(run=run, account=account))
    if not standing.hold:
        return standing, False
    _record_credit(run, account, standing, "credit-hold")
    poll_s = engine_settings().task_poll_s
    while standing.hold:
        recv(CREDIT_TOPIC, poll_s)
        standing = until_resident(run, "credit-check", credit_check, CreditInput(run=run, account=account))
    _record_credit(run, account, standing, "credit-cleared")
    return standing, True
