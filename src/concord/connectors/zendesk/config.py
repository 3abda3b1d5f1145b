"""Settings of one Zendesk Support account: where it lives, how we authenticate, and its documented limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from concord.connectors.base import RateLimit
from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "zendesk"
# The incremental exports have their own, much lower, per-minute allowance on top of the account limit.
INCREMENTAL_SYSTEM = "zendesk.incremental"


def _default_rate_limit() -> RateLimit:
    # Support API, Team plan: 200 requests per minute for the whole account (higher plans raise it).
    return RateLimit(requests=200, per_seconds=60.0)


def _default_incremental_limit() -> RateLimit:
    # "You can make up to 10 requests per minute to these endpoints" (Incremental Exports reference).
    return RateLimit(requests=10, per_seconds=60.0)


class ZendeskConfig(BaseModel):
    """Where and as whom to call the Support API.

    Authenticate with an API token (`email` + `api_token`, sent as `{email}/token:{api_token}` basic auth) or
    an OAuth access token; exactly one of the two. The account lives at `https://{subdomain}.zendesk.com`;
    `base_url` overrides that (a sandbox twin, a proxy).
    """

    model_config = ConfigDict(frozen=True)

    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    tenant: str = "default"
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    rate_limit: RateLimit = Field(default_factory=_default_rate_limit)
    incremental_rate_limit: RateLimit = Field(default_factory=_default_incremental_limit)
    # create_many / update_many / create_or_update_many accept at most 100 records per job.
    bulk_batch_size: int = Field(default=100, ge=1, le=100)
    page_size: int = Field(default=100, ge=1, le=100)
    incremental_per_page: int = Field(default=1000, ge=1, le=1000)
    job_poll_interval_s: float = Field(default=1.0, gt=0)
    job_timeout_s: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _one_credential(self) -> ZendeskConfig:
        token_auth = self.api_token is not None
        if token_auth == (self.oauth_token is not None):
            raise ValueError("set exactly one of api_token (with email) or oauth_token")
        if token_auth and not self.email:
            raise ValueError("api_token authentication needs the agent's email")
        if self.subdomain is None and self.base_url is None:
            raise ValueError("set the account's subdomain (or a base_url)")
        return self

    @property
    def api_url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")
