"""Settings of the Stripe twin, passed explicitly to `create_app`."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

# The API version the pinned official library (stripe-python 16.x) sends; echoed when a request sends none.
DEFAULT_API_VERSION = "2026-10-28.endive"


class StripeTwinSettings(BaseModel):
    """How the twin behaves. Defaults mirror Stripe test mode."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    api_key: str = "sk_test_concord_twin_0000000000000000"
    # Test mode allows 25 read and 25 write operations per second, counted separately.
    rate_limit_per_second: int = Field(default=25, ge=1)
    # Unix seconds; injectable so idempotency expiry, rate windows and timestamps are testable.
    clock: Callable[[], float] = time.time
    idempotency_ttl_s: float = Field(default=24 * 3600, gt=0)
    api_version: str = DEFAULT_API_VERSION
    # Sync delivery posts webhooks inside the request that emitted them: deterministic tests.
    webhook_sync: bool = False
    webhook_max_attempts: int = Field(default=3, ge=1)
    webhook_retry_base_s: float = Field(default=0.5, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
