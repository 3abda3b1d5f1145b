"""Settings of one Salesforce org connection: token endpoint, connected-app credentials, limits, batching.

Defaults follow Salesforce's documentation: REST API v60.0, the OAuth token endpoint on the org's My Domain
(`/services/oauth2/token`; the client-credentials flow is not served by login.salesforce.com), sObject
Collections capped at 200 records per call, and the Developer Edition allowance of 15,000 API requests per
rolling 24 hours (production orgs get 100,000 plus a per-licence adder: set `daily_api_quota` to yours;
the governor corrects itself from `Sforce-Limit-Info` after the first call anyway).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "salesforce"
OBJECTS: tuple[str, ...] = ("Account", "Contact", "Opportunity")
# sObject Collections accept at most 200 records per request.
MAX_COLLECTION_RECORDS = 200
CURSOR_FIELD = "SystemModstamp"
SECONDS_PER_DAY = 86_400.0


class SalesforceConfig(BaseModel):
    """One connected app in one org.

    `grant_type="client_credentials"` needs `client_secret`; `"refresh_token"` needs `refresh_token` (the
    secret is then optional, as for a connected app that does not require it on refresh). The data API base
    is the `instance_url` the token response names, unless `instance_url` pins one here.
    """

    model_config = ConfigDict(frozen=True)

    login_url: str = Field(pattern=r"^https?://", description="My Domain URL serving /services/oauth2/token")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    grant_type: Literal["client_credentials", "refresh_token"] = "client_credentials"
    instance_url: str | None = Field(default=None, pattern=r"^https?://")
    api_version: str = Field(default="v60.0", pattern=r"^v\d+\.\d$")
    # Whose allowance the calls spend, for the rate governor: an id, never a secret.
    tenant: str = "default"
    credential_id: str = Field(default="connected-app", min_length=1)
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    daily_api_quota: int = Field(default=15_000, gt=0)
    batch_size: int = Field(default=MAX_COLLECTION_RECORDS, ge=1, le=MAX_COLLECTION_RECORDS)
    # Sent as `Sforce-Query-Options: batchSize=N` (Salesforce honours 200..2000); None keeps the org's 2000.
    query_batch_size: int | None = Field(default=None, ge=200, le=2000)
    # Records per `changes_since` page (a SOQL LIMIT), so a cursor never depends on a 15-minute query locator.
    changes_page_size: int = Field(default=2000, ge=1, le=50_000)
    # The unique external-id field that makes `create` idempotent (the idempotency key lives there).
    external_id_field: str = Field(default="Concord_Id__c", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    objects: tuple[str, ...] = OBJECTS
    # Fields to SELECT per object; an object not listed gets every field its describe result names.
    fields: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_grant(self) -> SalesforceConfig:
        if self.grant_type == "client_credentials" and self.client_secret is None:
            raise ValueError("the client_credentials grant needs client_secret")
        if self.grant_type == "refresh_token" and self.refresh_token is None:
            raise ValueError("the refresh_token grant needs refresh_token")
        return self

    def token_url(self) -> str:
        return f"{self.login_url.rstrip('/')}/services/oauth2/token"

    def data_path(self, suffix: str) -> str:
        """`/services/data/vNN.0/<suffix>`, the path every REST resource lives under."""
        return f"/services/data/{self.api_version}/{suffix.lstrip('/')}"
