"""Retries with capped exponential backoff and full jitter (the AWS Architecture Blog scheme).

Only `RetryableError` and its subclasses are retried. `DataRejected`, `NotFound`, `Conflict`, `AuthError`
and `QuotaExhausted` are not retryable by type, so they surface on the first attempt; the single token
refresh after an `AuthError` belongs to the connector's auth module, not here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import RetryableError
from concord.connectors.runtime.clock import Clock, SystemClock

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How often and how long to retry. Defaults suit an interactive sync step; batch jobs may widen them."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=5, ge=1)
    base_delay_s: float = Field(default=0.2, gt=0)
    max_delay_s: float = Field(default=20.0, gt=0)
    max_elapsed_s: float = Field(default=60.0, gt=0)

    def backoff_ceiling(self, retry_number: int) -> float:
        """Upper bound of the jittered delay before retry number `retry_number` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry_number - 1))

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, ceiling], which spreads a thundering herd best."""
        return rng.uniform(0.0, self.backoff_ceiling(retry_number))

    def delay_for(self, retry_number: int, error: RetryableError, rng: random.Random) -> float:
        """The backoff, but never shorter than what the server asked for."""
        delay = self.backoff(retry_number, rng)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay


@dataclass(frozen=True)
class RetryEvent:
    """Told to `on_retry` before each sleep, for logs and metrics."""

    attempt: int
    delay_s: float
    error: RetryableError


class Retrier:
    """Runs a call under a `RetryPolicy` with an injected clock and random source."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._on_retry = on_retry

    def run(self, fn: Callable[[], T]) -> T:
        started = self._clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except RetryableError as error:
                delay = self._next_delay(attempt, error, started)
                if delay is None:
                    raise
                if self._on_retry is not None:
                    self._on_retry(RetryEvent(attempt=attempt, delay_s=delay, error=error))
                self._clock.sleep(delay)

    def _next_delay(self, attempt: int, error: RetryableError, started: float) -> float | None:
        """None when the budget is spent: out of attempts, or the wait would overrun `max_elapsed_s`."""
        if attempt >= self.policy.max_attempts:
            return None
        delay = self.policy.delay_for(attempt, error, self._rng)
        if self._clock.monotonic() - started + delay > self.policy.max_elapsed_s:
            return None
        return delay
