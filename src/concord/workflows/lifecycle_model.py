"""Inputs and results of the lifecycle processes after onboarding: renewal and amendment with credit control,
credit hold and release, billing-status sync, suspension and closure (pure data; flows in their own modules).

Every request names its business key; the workflow id is built from it, so starting the same request twice
returns the first run (`workflow_id()`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

TENANT = r"^[a-z0-9][a-z0-9_-]{0,63}$"
KEY = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"

RENEW = "renew"
AMEND = "amend-subscription"
APPLY_HOLD = "apply-credit-hold"
RELEASE_HOLD = "release-credit-hold"
SYNC_BILLING = "sync-billing-status"
SUSPEND = "suspend-account"
CLOSE = "close-account"
CONVERT_LEAD = "convert-lead"
ACTIVATE_CONTRACT = "activate-contract"

# The topic paused runs listen on: release-credit-hold (and the credit signal pump) send here to wake them.
CREDIT_TOPIC = "credit"


class ProcessRequest(BaseModel):
    """What every lifecycle process request carries: whose customer, and the correlation to keep."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(default="default", pattern=TENANT)
    customer_id: str = Field(min_length=1, max_length=64, description="Concord id of the account")
    correlation_id: str | None = Field(default=None, max_length=128)


class AmendRequest(ProcessRequest):
    """A renewal or a mid-term amendment of the customer's subscription (seats, and optionally the plan)."""

    change_id: str = Field(pattern=KEY, description="business key of this renewal/amendment (order or quote id)")
    seats: int = Field(ge=1, le=100_000, description="seats after the change")
    plan_price: str | None = Field(default=None, min_length=1, max_length=255, description="new billing price id")
    requested_by: str = Field(default="api", min_length=1, max_length=128)


class CreditHoldRequest(ProcessRequest):
    """Finance puts a customer on credit hold, or lifts it; `reference` is the finance case (business key)."""

    reference: str = Field(pattern=KEY, description="finance case or dunning reference")
    reason: str = Field(default="", max_length=500)
    requested_by: str = Field(default="api", min_length=1, max_length=128)


class BillingSyncRequest(ProcessRequest):
    """Copy invoices and receivables from ERP and billing into CRM; `trigger` is what asked (an invoice id)."""

    trigger: str | None = Field(default=None, pattern=KEY,
                                description="what asked, e.g. the posted invoice's number; default: the correlation id")


class ConvertLeadRequest(ProcessRequest):
    """Sales qualifies a lead (a prospect account, `customer_id`) into an account; the lead is the business key."""

    qualified_by: str = Field(min_length=1, max_length=128, description="who qualified the lead")
    note: str = Field(default="", max_length=500)


class ActivateContractRequest(ProcessRequest):
    """A signed contract goes live carrying its order. Either `order_id`, an ERP sale order already confirmed, or
    `contract_id`, the contract of a won deal (a CRM opportunity): then the run places the order in ERP and
    confirms it. Whichever is given is the business key."""

    order_id: int | None = Field(default=None, ge=1, le=2**63 - 1,
                                 description="the Tryton sale order the contract carries")
    contract_id: str | None = Field(default=None, pattern=KEY, validate_default=True,
                                    description="Concord id of the contract (a won CRM deal) to place the order for")
    activated_by: str = Field(min_length=1, max_length=128)

    @field_validator("contract_id")
    @classmethod
    def _one_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "order_id" not in info.data:
            return value  # order_id itself is invalid: that error names it
        if (info.data["order_id"] is None) == (value is None):
            raise ValueError("give either order_id (a confirmed ERP order) or contract_id (a won deal)")
        return value


class GovernedRequest(ProcessRequest):
    """Suspension or closure: a person asks, a second person approves."""

    case_id: str = Field(pattern=KEY, description="business key of the request (ticket or case id)")
    requested_by: str = Field(min_length=1, max_length=128, description="who asks; may not approve it")
    reason: str = Field(min_length=1, max_length=500)


def workflow_id(process: str, request: ProcessRequest) -> str:
    """The business idempotency key of a request (tenant and customer first: explain lists runs by prefix)."""
    base = f"{process}:{request.tenant}:{request.customer_id}"
    if isinstance(request, AmendRequest):
        return f"{base}:{request.change_id}"
    if isinstance(request, CreditHoldRequest):
        return f"{base}:{request.reference}"
    if isinstance(request, BillingSyncRequest):  # started by an event: one run per event's correlation
        return f"{base}:{request.trigger or request.correlation_id or 'manual'}"
    if isinstance(request, ActivateContractRequest):
        return f"{base}:{request.order_id}" if request.order_id is not None else f"{base}:{request.contract_id}"
    if isinstance(request, GovernedRequest):
        return base if process == CLOSE else f"{base}:{request.case_id}"  # a customer closes once
    return base


class AccountSystems(BaseModel):
    """Where the customer lives downstream: bindings plus what onboarding created."""

    model_config = ConfigDict(frozen=True)

    found: bool = True
    lifecycle_state: str | None = None
    credit_status: str | None = None
    tryton_party: str | None = None
    salesforce_id: str | None = None
    stripe_customer: str | None = None
    stripe_subscription: str | None = None
    scim_group: str | None = None
    scim_user: str | None = None
    zendesk_organization: str | None = None


class CreditStanding(BaseModel):
    """ERP and billing's view of the customer's credit, and whether it blocks a renewal or amendment."""

    model_config = ConfigDict(frozen=True)

    hold: bool
    status: Literal["ok", "review", "hold"]
    reasons: list[str] = Field(default_factory=list)
    receivable: str = "0"
    overdue: str = "0"
    credit_limit: str | None = None
    billing_overdue_cents: int = 0
    open_invoices: list[dict[str, Any]] = Field(default_factory=list)


class ProcessResult(BaseModel):
    """What a lifecycle run ended with."""

    status: Literal["completed", "cancelled", "rejected"]
    customer_id: str
    detail: dict[str, Any] = Field(default_factory=dict)
    approved_by: str | None = None
    cancelled_at: str | None = None
