"""Canonical customer entities (Pydantic v2). Every entity carries `schema_version`.

Nested value objects (Address, TaxProfile) are flattened into dotted field paths for ownership, provenance
and mappings (see `fields.py`); lists are leaf values.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from concord.canonical.lifecycle import LifecycleState

SCHEMA_VERSION = 1


def normalize_decimal(value: Decimal) -> Decimal:
    """One spelling per amount ("12.50" and "12.5" are one value), so comparisons and round trips agree."""
    if value.is_zero():
        return Decimal(0)  # "-0.00" and "0" are one amount
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


Amount = Annotated[Decimal, AfterValidator(normalize_decimal)]


class _Strict(BaseModel):
    # Unknown fields are an error, not silently dropped: a typo in a mapping must not lose data.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=True)


class Address(_Strict):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class TaxIdType(StrEnum):
    EU_VAT = "eu_vat"
    GB_VAT = "gb_vat"
    US_EIN = "us_ein"
    CH_VAT = "ch_vat"
    AU_ABN = "au_abn"
    CA_BN = "ca_bn"
    OTHER = "other"


class TaxId(_Strict):
    type: TaxIdType
    value: str = Field(min_length=2, max_length=40)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class TaxProfile(_Strict):
    tax_ids: list[TaxId] | None = None
    exempt: bool | None = None
    exemption_reason: str | None = None
    region: str | None = Field(default=None, description="tax region / jurisdiction code, e.g. EU, US-CA")


class CreditStatus(StrEnum):
    OK = "ok"
    REVIEW = "review"
    HOLD = "hold"


class Segment(StrEnum):
    SMB = "smb"
    MID_MARKET = "mid_market"
    ENTERPRISE = "enterprise"


class Entity(_Strict):
    """Base of every canonical entity."""

    entity_name: ClassVar[str] = ""
    schema_version: int = SCHEMA_VERSION


class Account(Entity):
    """The customer: prospect profile and sales hierarchy (CRM), legal and credit data (ERP)."""

    entity_name: ClassVar[str] = "account"
    name: str | None = Field(default=None, min_length=1, max_length=255)
    legal_name: str | None = Field(default=None, max_length=255)
    domain: str | None = None
    website: str | None = None
    phone: str | None = None
    industry: str | None = None
    segment: Segment | None = None
    employee_count: int | None = Field(default=None, ge=0)
    annual_revenue: Amount | None = Field(default=None, ge=0)
    parent_account_id: str | None = Field(default=None, description="canonical id of the parent account")
    sales_owner: str | None = None
    territory: str | None = None
    lifecycle_state: LifecycleState | None = None
    legal_address: Address = Field(default_factory=Address)
    billing_address: Address = Field(default_factory=Address, description="the invoice address")
    shipping_address: Address = Field(default_factory=Address)
    tax_profile: TaxProfile = Field(default_factory=TaxProfile)
    erp_customer_number: str | None = None
    payment_terms: str | None = None
    credit_status: CreditStatus | None = None
    credit_limit: Amount | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class Contact(Entity):
    entity_name: ClassVar[str] = "contact"
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = Field(default=None, min_length=1)
    email: EmailStr | None = None
    phone: str | None = None
    title: str | None = None
    role: str | None = None
    is_primary: bool | None = None


class BillingAccountStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class BillingAccount(Entity):
    entity_name: ClassVar[str] = "billing_account"
    account_id: str | None = None
    name: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    billing_email: EmailStr | None = None
    payment_terms: str | None = None
    status: BillingAccountStatus | None = None
    invoice_address: Address = Field(default_factory=Address)


class ContractStatus(StrEnum):
    DRAFT = "draft"
    ACTIVATED = "activated"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class SalesStage(StrEnum):
    """Where the deal behind a contract stands in CRM (a Salesforce Opportunity's stage)."""

    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    NEEDS_ANALYSIS = "needs_analysis"
    VALUE_PROPOSITION = "value_proposition"
    DECISION_MAKERS = "decision_makers"
    PERCEPTION_ANALYSIS = "perception_analysis"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class Contract(Entity):
    entity_name: ClassVar[str] = "contract"
    account_id: str | None = None
    name: str | None = Field(default=None, max_length=255)
    number: str | None = Field(default=None, description="the ERP order number the contract carries")
    status: ContractStatus | None = None
    sales_stage: SalesStage | None = None
    start_date: date | None = None
    end_date: date | None = None
    total_value: Amount | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    auto_renew: bool | None = None


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"


class Subscription(Entity):
    entity_name: ClassVar[str] = "subscription"
    account_id: str | None = None
    billing_account_id: str | None = None
    plan: str | None = None
    quantity: int | None = Field(default=None, ge=0)
    status: SubscriptionStatus | None = None
    current_period_end: date | None = None
    monthly_amount: Amount | None = Field(default=None, ge=0)


class EntitlementStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Entitlement(Entity):
    entity_name: ClassVar[str] = "entitlement"
    account_id: str | None = None
    product: str | None = None
    support_tier: str | None = None
    seats: int | None = Field(default=None, ge=0)
    start_date: date | None = None
    end_date: date | None = None
    status: EntitlementStatus | None = None


class InvoiceStatus(StrEnum):
    """Receivable state as sales reads it: a posted invoice is open until paid (or voided); `overdue` is an open
    invoice a source reports past due (readers also derive it from `due_date`, which moves with the clock)."""

    OPEN = "open"
    OVERDUE = "overdue"
    PAID = "paid"
    VOID = "void"


class Invoice(Entity):
    """A customer invoice posted in ERP or finalised in billing; `account_id` keys it to its customer."""

    entity_name: ClassVar[str] = "invoice"
    account_id: str | None = Field(default=None, description="canonical id of the customer (account)")
    billing_account_id: str | None = Field(default=None, description="canonical id of the billing account")
    number: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    amount_total: Amount | None = Field(default=None, ge=0)
    amount_due: Amount | None = Field(default=None, ge=0, description="what is still to be paid")
    due_date: date | None = None
    status: InvoiceStatus | None = None
    source_system: str | None = Field(default=None, description="the system that issued the invoice")
    posted_at: date | None = Field(default=None, description="day the invoice was posted (ERP) or finalised")


ENTITY_TYPES: dict[str, type[Entity]] = {
    cls.entity_name: cls
    for cls in (Account, Contact, BillingAccount, Contract, Subscription, Entitlement, Invoice)
}
