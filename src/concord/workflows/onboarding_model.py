"""Onboarding's inputs and results (pure data; the steps are in onboarding_steps, the flow in onboarding)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from concord.canonical.golden import GoldenRecord
from concord.policy.rules import Decision
from concord.workflows.duplicates import DuplicateCandidate
from concord.workflows.lifecycle_model import KEY
from concord.workflows.steps import Rejection

PROCESS = "onboard-customer"
MANDATORY = ("name", "country", "street", "city", "postal_code")
# What `concord tasks resolve --set` may change on an onboarding task.
CORRECTABLE = ["name", "country", "street", "city", "postal_code", "tax_id", "tax_id_type", "email", "phone",
               "website"]


def workflow_id_for(tenant: str, customer_id: str) -> str:
    """The business idempotency key: one onboarding per customer and tenant, ever."""
    return f"onboard:{tenant}:{customer_id}"


class LegalEntity(BaseModel):
    """Legal-entity data the starter knows better than the golden record (e.g. from the signed order form);
    each given value wins over the record's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=255)
    street: str | None = Field(default=None, min_length=1, max_length=255)
    city: str | None = Field(default=None, min_length=1, max_length=128)
    postal_code: str | None = Field(default=None, min_length=1, max_length=32)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    tax_id: str | None = Field(default=None, min_length=2, max_length=40)
    tax_id_type: str | None = Field(default=None, pattern=r"^[a-z]{2}_[a-z]{2,4}$|^other$")


class OnboardRequest(BaseModel):
    """What starts an onboarding: the customer (a golden account record) and what to provision for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    customer_id: str = Field(min_length=1, max_length=64, description="Concord id of the account")
    admin_email: EmailStr | None = Field(default=None, description="the customer's administrator: SCIM user and "
                                                                   "billing e-mail (none: a group only)")
    plan_price: str | None = Field(default=None, max_length=255, description="billing price id to subscribe to")
    seats: int = Field(default=1, ge=1, le=100_000)
    support_tier: str = Field(default="standard", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    legal_entity: LegalEntity | None = None
    contract_id: str | None = Field(default=None, pattern=KEY,
                                    description="a won deal (Concord id of its contract): the run converts a lead "
                                                "first and, once the customer exists in ERP, places the deal's "
                                                "order (activate-contract) — decision 076")
    correlation_id: str | None = Field(default=None, max_length=128)


class CustomerFacts(BaseModel):
    """The master data onboarding works from: read from the golden record, then corrected through tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    tax_id: str | None = None
    tax_id_type: str | None = None
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    employee_count: int | None = None
    annual_revenue: float | None = None
    industry: str | None = None
    lifecycle_state: str | None = None
    salesforce_id: str | None = None

    def corrected(self, corrections: dict[str, Any]) -> CustomerFacts:
        return self.model_validate({**self.model_dump(), **corrections})

    def missing(self, tax_id_required: bool = False) -> list[str]:
        absent = [name for name in MANDATORY if not getattr(self, name)]
        return [*absent, "tax_id"] if tax_id_required and not self.tax_id else absent

    def policy_facts(self) -> dict[str, str | int | float | bool | None]:
        return {"country": self.country, "employee_count": self.employee_count,
                "annual_revenue": self.annual_revenue, "industry": self.industry}


def _first(values: dict[str, Any], *paths: str) -> Any:
    return next((values[p] for p in paths if values.get(p) not in (None, "")), None)


def facts_from_record(record: GoldenRecord, salesforce_id: str | None, request: OnboardRequest) -> CustomerFacts:
    """The record's values (legal address, else billing, else shipping), overridden by the request's."""
    facts = _record_facts(record, salesforce_id, request.admin_email)
    given = {} if request.legal_entity is None else request.legal_entity.model_dump(exclude_none=True)
    return facts.corrected(given) if given else facts


def _record_facts(record: GoldenRecord, salesforce_id: str | None, email: str | None) -> CustomerFacts:
    values = record.values()
    tax_ids = values.get("tax_profile.tax_ids") or []
    tax = tax_ids[0] if isinstance(tax_ids, list) and tax_ids and isinstance(tax_ids[0], dict) else {}
    revenue = values.get("annual_revenue")
    address = {part: _first(values, f"legal_address.{part}", f"billing_address.{part}",
                            f"shipping_address.{part}") for part in ("line1", "city", "postal_code", "country")}
    return CustomerFacts(
        name=_first(values, "legal_name", "name"), country=address["country"], street=address["line1"],
        city=address["city"], postal_code=address["postal_code"],
        tax_id=tax.get("value"), tax_id_type=tax.get("type"), email=email, phone=values.get("phone"),
        website=values.get("website"), employee_count=values.get("employee_count"),
        annual_revenue=None if revenue is None else float(str(revenue)), industry=values.get("industry"),
        lifecycle_state=values.get("lifecycle_state"), salesforce_id=salesforce_id)


class Enrichment(BaseModel):
    """What policy decided for this customer; `decisions` name each rule and rule-set version."""

    model_config = ConfigDict(frozen=True)

    eligible: bool
    reason: str | None = None
    segment: str
    territory: str
    region: str
    currency: str
    tax_id_required: bool
    tax_id_type: str | None = None
    payment_terms: str
    credit_limit: float
    credit_status: str
    decisions: list[Decision]


class ErpInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    facts: CustomerFacts
    enrichment: Enrichment
    # Whose region's ERP the party goes to (data residency, decision 072) and whose mapping the ERP match reads
    # candidates with (a tenant's override, decision 071). Required: the journal records a step's output, not its input,
    # so a run started before the field existed rebuilds this input with the tenant when it resumes.
    tenant: str

    def corrected(self, corrections: dict[str, Any]) -> ErpInput:
        return self.model_copy(update={"facts": self.facts.corrected(corrections)})


class ErpResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    party_id: str | None = None
    customer_number: str | None = None
    record: dict[str, Any] = Field(default_factory=dict)
    rejection: Rejection | None = None


class CrmInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    salesforce_id: str | None
    customer_number: str
    enrichment: Enrichment


    def corrected(self, corrections: dict[str, Any]) -> CrmInput:
        return self


class CrmResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    salesforce_id: str | None = None
    written: dict[str, Any] = Field(default_factory=dict)
    rejection: Rejection | None = None


class DuplicateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidates: list[DuplicateCandidate]


class OnboardResult(BaseModel):
    status: Literal["completed", "cancelled"]
    customer_id: str
    erp_party_id: str | None = None
    customer_number: str | None = None
    salesforce_id: str | None = None
    systems: dict[str, dict[str, str]] = Field(default_factory=dict, description="system → created ids")
    decisions: list[Decision] = Field(default_factory=list)
    cancelled_at: str | None = None
    not_provisioned: list[str] = Field(default_factory=list, description="systems whose provisioning task was "
                                                                         "cancelled")
    contract: dict[str, Any] | None = Field(default=None, description="a won deal's activation: its run id, "
                                                                      "status and order (decision 076)")
