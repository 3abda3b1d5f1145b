"""Settings of the Salesforce twin: the connected app's credentials, session lifetime, org limits, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    return datetime.now(UTC)


class SalesforceTwinSettings(BaseModel):
    """Everything that shapes one twin org. Defaults mirror a Developer Edition org with one connected app.

    `clock` returns the twin's notion of "now" (timezone-aware, UTC); tests pass a fake clock to expire
    sessions, query cursors and the daily quota without sleeping.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    client_id: str = "3MVG9twin.concord.consumer.key"
    client_secret: str = Field(default="twin-consumer-secret", min_length=8)
    # Salesforce's default session timeout is two hours.
    token_lifetime_s: float = Field(default=7200.0, gt=0)
    daily_api_quota: int = Field(default=15000, ge=0)
    # 2000 is the REST default; the twin lets tests page with far fewer rows.
    query_batch_size: int = Field(default=2000, ge=1, le=2000)
    # Cursors (query locators) die after 15 minutes without a queryMore.
    query_cursor_idle_s: float = Field(default=900.0, gt=0)
    # New custom picklists are restricted by default in Setup; off here so mappings may send free text.
    restricted_custom_picklists: bool = False
    # When set, the token response names this instance; otherwise the URL the client called.
    instance_url: str | None = None
    org_id: str = Field(default="00D5g00000TWINAEA5", pattern=r"^00D[A-Za-z0-9]{15}$")
    user_id: str = Field(default="0055g00000TWINUAA5", pattern=r"^005[A-Za-z0-9]{15}$")
    clock: Callable[[], datetime] = Field(default=utc_now, exclude=True)
