"""Settings of one HubSpot portal connection: base URL, private-app token, limits, batching and properties."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "hubspot"
# HubSpot's own system properties: present on every record, set by HubSpot, never written by us.
RECORD_ID_PROPERTY = "hs_object_id"
CREATED_PROPERTY = "createdate"


@dataclass(frozen=True)
class ObjectSpec:
    """A CRM object type the connector speaks: its path name and the property HubSpot stamps on writes."""

    name: str
    modified_property: str


# Contacts kept the pre-`hs_` name of the modification stamp; companies and deals use `hs_lastmodifieddate`.
OBJECTS: dict[str, ObjectSpec] = {
    "companies": ObjectSpec("companies", "hs_lastmodifieddate"),
    "contacts": ObjectSpec("contacts", "lastmodifieddate"),
    "deals": ObjectSpec("deals", "hs_lastmodifieddate"),
}

# The properties Concord maps inbound (src/concord/mappings/specs/hubspot_*.yaml) plus the Concord id.
# Reads ask for exactly these: the mapper refuses any property it neither maps nor ignores.
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": (
        "name", "domain", "website", "phone", "industry", "annualrevenue", "hubspot_owner_id", "address",
        "city", "state", "zip", "country", "erp_customer_number", "payment_terms", "credit_status",
        "concord_id",
    ),
    "contacts": ("firstname", "lastname", "email", "phone", "jobtitle", "associatedcompanyid", "concord_id"),
    "deals": ("dealname", "dealstage", "pipeline", "amount", "closedate", "concord_id"),
}


class HubSpotConfig(BaseModel):
    """One private app in one portal.

    Give either `access_token` or `access_token_ref` (`env:NAME` or `file:/path`, resolved when needed and
    again once after a 401, so a rotated token is picked up without a restart).

    Limits default to HubSpot's documented private-app allowance on Professional: 190 requests per rolling
    10 s and 625,000 per day, the daily one resetting at midnight in the portal's time zone. The governor
    spends only `burst_safety` less than the burst limit, since its clock and HubSpot's differ slightly.
    """

    model_config = ConfigDict(frozen=True)

    base_url: str = Field(default="https://api.hubapi.com", pattern=r"^https?://")
    access_token: SecretStr | None = None
    access_token_ref: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*:.+")
    # Whose allowance the calls spend, for the rate governor: an id, never the token.
    tenant: str = "default"
    credential_id: str = Field(default="private-app", min_length=1)
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    burst_limit: int = Field(default=190, gt=0)
    burst_window_s: float = Field(default=10.0, gt=0)
    daily_quota: int | None = Field(default=625_000, gt=0)
    quota_timezone: str = "UTC"
    # Share of the burst allowance the governor may spend at once; the rest is paced evenly over the window.
    burst_fraction: float = Field(default=0.1, gt=0, lt=1)
    burst_safety: float = Field(default=0.05, ge=0, lt=0.5)
    # HubSpot caps batch endpoints at 100 inputs and search pages at 200 results.
    batch_size: int = Field(default=100, ge=1, le=100)
    search_page_size: int = Field(default=100, ge=1, le=200)
    # The unique custom property holding Concord's id: the upsert key that makes `create` idempotent.
    idempotency_property: str = Field(default="concord_id", min_length=1)
    properties: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_PROPERTIES))

    @model_validator(mode="after")
    def _check(self) -> HubSpotConfig:
        if (self.access_token is None) == (self.access_token_ref is None):
            raise ValueError("set exactly one of access_token or access_token_ref")
        if self.governed_burst() < 1:
            raise ValueError("burst_limit * burst_fraction * (1 - burst_safety) must allow at least 1 request")
        return self

    def governed_burst(self) -> float:
        """Requests the governor lets through at once (its bucket capacity)."""
        return self.burst_limit * self.burst_fraction * (1 - self.burst_safety)

    def read_properties(self, obj: str) -> tuple[str, ...]:
        """What reads ask for: the configured properties, the Concord id and the modification stamp."""
        spec = OBJECTS[obj]
        wanted = [*self.properties.get(obj, ()), self.idempotency_property, spec.modified_property]
        return tuple(dict.fromkeys(wanted))
