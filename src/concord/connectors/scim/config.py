"""Settings of one SCIM 2.0 service provider, and the optional features it announced (RFC 7644 §4)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from concord.connectors.base import RateLimit
from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "scim"


class ScimConfig(BaseModel):
    """Where the SCIM endpoints live (`base_url` ends before `/Users`, e.g. `https://idp.example/scim/v2`) and
    the bearer token, when the provider asks for one. SCIM defines no rate limit; set the provider's own."""

    model_config = ConfigDict(frozen=True)

    base_url: str = Field(pattern=r"^https?://")
    bearer_token: SecretStr | None = None
    tenant: str = "default"
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    rate_limit: RateLimit | None = None
    # Operations per /Bulk request we send, at most; the provider's bulk.maxOperations caps it further.
    max_bulk_operations: int = Field(default=100, ge=1, le=1000)
    page_size: int = Field(default=100, ge=1, le=1000)

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")


class ScimFeatures(BaseModel):
    """What the provider supports beyond the mandatory core. The defaults assume nothing optional (a plain
    connector never sends PATCH, /Bulk or sorted searches); `ScimConnector.discover` reads the provider's
    `/ServiceProviderConfig` and probes the one thing it cannot announce: filtering on meta.lastModified."""

    model_config = ConfigDict(frozen=True)

    patch: bool = False
    bulk_max_operations: int = Field(default=0, ge=0)  # 0: no /Bulk
    bulk_max_payload_bytes: int | None = None
    filter: bool = True  # RFC 7644 §3.4.2.2: equality filters are what every provisioning client relies on
    filter_max_results: int | None = None
    sort: bool = False
    etag: bool = False
    last_modified_filter: bool = False
