"""Settings of one Stripe account connection: base URL, secret key, pinned API version, limits and timeouts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from concord.connectors.base import RateLimit
from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "stripe"
# The version this connector's field handling was written against (and the one stripe-python 16.x pins).
# Pinned so an account-level upgrade in the Dashboard cannot change response shapes under us.
API_VERSION = "2026-10-28.endive"
# Stripe's documented per-second allowances; reads and writes are counted separately.
TEST_MODE_LIMIT = RateLimit(requests=25, per_seconds=1.0)
LIVE_MODE_LIMIT = RateLimit(requests=100, per_seconds=1.0)
_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


class StripeConfig(BaseModel):
    """Where and with which secret key to call the Stripe API.

    Give either `api_key` or `api_key_ref` (`env:VARIABLE`, `file:/path`, or any scheme an injected resolver
    understands); a reference is resolved when first needed and again after a 401, so a rotated key is
    picked up without a restart. Publishable keys (`pk_...`) cannot call these endpoints and are refused.
    `credential_id` names the key in rate-limit buckets and metrics; it must never be the key itself.
    """

    # Validation errors echo their input by default, and the input may hold the key.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    base_url: str = Field(default="https://api.stripe.com", pattern=r"^https?://")
    api_key: SecretStr | None = None
    api_key_ref: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*:.+")
    api_version: str = API_VERSION
    tenant: str = "default"
    credential_id: str = Field(default="default", min_length=1)
    # None: derived from the key (live keys get the live allowance, everything else test mode's).
    rate_limit: RateLimit | None = None
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    # Stripe list and search endpoints accept 1..100 items per page.
    page_size: int = Field(default=100, ge=1, le=100)

    @model_validator(mode="after")
    def _one_key(self) -> StripeConfig:
        if (self.api_key is None) == (self.api_key_ref is None):
            raise ValueError("set exactly one of api_key or api_key_ref")
        if self.api_key is not None and not self.api_key.get_secret_value().startswith(_KEY_PREFIXES):
            # The message names the expected shape only: never echo (part of) a secret.
            raise ValueError("api_key must be a secret (sk_...) or restricted (rk_...) key")
        return self

    @property
    def is_live(self) -> bool:
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        return key.startswith(("sk_live_", "rk_live_"))

    def effective_rate_limit(self) -> RateLimit:
        if self.rate_limit is not None:
            return self.rate_limit
        return LIVE_MODE_LIMIT if self.is_live else TEST_MODE_LIMIT
