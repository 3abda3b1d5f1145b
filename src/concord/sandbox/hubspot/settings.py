"""Settings of the HubSpot CRM twin: the private app it pretends to be, its limits and its clocks."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class HubSpotTwinSettings(BaseModel):
    """The portal and private app the twin emulates.

    Defaults follow HubSpot's documented private-app limits for a Professional account: 190 requests per
    rolling 10 seconds per app and 625,000 requests per day per account. `clock` is monotonic seconds and
    drives the burst window; `wall_clock` is Unix epoch seconds and stamps `createdAt`/`updatedAt` and the
    `createdate`/`hs_lastmodifieddate` properties, so tests inject fakes to control both.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    access_token: str = Field(default="pat-na1-00000000-0000-4000-8000-000000000000", min_length=1)
    portal_id: int = Field(default=20_260_001, gt=0)
    burst_limit: int = Field(default=190, gt=0)
    burst_window_s: float = Field(default=10.0, gt=0)
    daily_quota: int = Field(default=625_000, gt=0)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    max_batch_inputs: int = Field(default=100, gt=0)
    max_page_size: int = Field(default=100, gt=0)
    max_search_limit: int = Field(default=200, gt=0)
    # The search endpoints refuse to page past the first 10,000 results of a query.
    max_search_results: int = Field(default=10_000, gt=0)
