"""Settings of the Zendesk Support twin: the account it pretends to be, its plan limit and its clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

# The custom fields Concord keeps support entitlements in. Zendesk silently drops values for keys that
# are not defined as custom fields, and lists every defined key (null when unset) on every record.
DEFAULT_ORGANIZATION_FIELDS: tuple[str, ...] = (
    "support_tier",
    "concord_id",
    "entitlement_seats",
    "entitlement_end",
    # the contract an organization is entitled under (activate-contract): ERP order number and status
    "contract_status",
    "order_number",
)
DEFAULT_USER_FIELDS: tuple[str, ...] = ("concord_id", "support_tier")


class ZendeskTwinSettings(BaseModel):
    """The account the twin emulates.

    `clock` returns Unix epoch seconds; it stamps `created_at`/`updated_at`, drives the incremental export
    window and the per-minute rate limit, so tests inject a fake one. `requests_per_minute` is the plan's
    account-wide limit (Suite Team: 200). `job_completion_delay_s` keeps bulk jobs reported as "queued" for
    a while so clients have to poll `job_statuses` the way they must against the real API.
    """

    model_config = ConfigDict(frozen=True)

    subdomain: str = Field(default="concord-sandbox", pattern=r"^[a-z0-9][a-z0-9-]*$")
    email: str = "admin@concord.test"
    api_token: str = Field(default="twin-api-token", min_length=1)
    oauth_tokens: tuple[str, ...] = ("twin-oauth-token",)
    requests_per_minute: int = Field(default=200, gt=0)
    clock: Callable[[], float] = time.time
    organization_fields: tuple[str, ...] = DEFAULT_ORGANIZATION_FIELDS
    user_fields: tuple[str, ...] = DEFAULT_USER_FIELDS
    # Incremental exports leave out the most recent minute and refuse a start_time inside it.
    incremental_min_age_s: int = Field(default=60, ge=0)
    incremental_max_per_page: int = Field(default=1000, gt=0)
    max_page_size: int = Field(default=100, gt=0)
    max_bulk_items: int = Field(default=100, gt=0)
    job_completion_delay_s: float = Field(default=0.0, ge=0)
