"""A circuit breaker per endpoint: stop calling a failing endpoint, probe it once after a cool-down.

Only transport-level trouble (`RetryableError`, except `RateLimited`) counts as failure: a 404 or a rejected
payload proves the endpoint is up, and a 429 is the governor's business, not the endpoint's health.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import RateLimited, RetryableError
from concord.connectors.runtime.clock import Clock, SystemClock

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSettings(BaseModel):
    """Open after `failure_threshold` consecutive failures, or when the failure rate over the last `window`
    calls reaches `failure_rate` (once `min_calls` were seen); try one call again after `cooldown_s`."""

    model_config = ConfigDict(frozen=True)

    failure_threshold: int = Field(default=5, ge=1)
    failure_rate: float | None = Field(default=None, gt=0, le=1)
    window: int = Field(default=20, ge=1)
    min_calls: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0)


class CircuitOpen(RetryableError):
    """The endpoint's breaker is open: the call was not sent. `retry_after` is the cool-down left."""

    def __init__(self, system: str, endpoint: str, retry_after: float) -> None:
        super().__init__(system, f"circuit open for {endpoint}", retry_after=retry_after)
        self.endpoint = endpoint


def counts_as_failure(error: BaseException) -> bool:
    return isinstance(error, RetryableError) and not isinstance(error, RateLimited | CircuitOpen)


class CircuitBreaker:
    """closed → open → half-open (one trial) → closed or open again. Thread-safe."""

    def __init__(
        self, system: str, endpoint: str, settings: BreakerSettings | None = None, clock: Clock | None = None
    ) -> None:
        self.system = system
        self.endpoint = endpoint
        self._settings = settings or BreakerSettings()
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=self._settings.window)
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state_now()

    def check(self) -> None:
        """Raise `CircuitOpen` if a call would be refused now, without claiming the half-open trial."""
        with self._lock:
            self._refusal()

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self._refusal()
            if self._state_now() is BreakerState.HALF_OPEN:
                self._trial_in_flight = True
        try:
            result = fn()
        except Exception as error:
            if counts_as_failure(error):
                self.record_failure()
            else:
                self.record_success()
            raise
        self.record_success()
        return result

    def record_success(self) -> None:
        with self._lock:
            state = self._state_now()
            self._consecutive = 0
            if state is BreakerState.HALF_OPEN:
                # A passed trial starts a fresh record; old failures must not re-open it at once.
                self._outcomes.clear()
                self._trial_in_flight = False
                self._state = BreakerState.CLOSED
            # A late success of a call sent before the breaker opened does not skip the cool-down.
            if state is not BreakerState.OPEN:
                self._outcomes.append(True)

    def record_failure(self) -> None:
        with self._lock:
            self._outcomes.append(False)
            self._consecutive += 1
            was_trial = self._state_now() is BreakerState.HALF_OPEN
            self._trial_in_flight = False
            if was_trial or self._should_open():
                self._state = BreakerState.OPEN
                self._opened_at = self._clock.monotonic()

    def _state_now(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cooldown_left() <= 0:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def _cooldown_left(self) -> float:
        return self._opened_at + self._settings.cooldown_s - self._clock.monotonic()

    def _refusal(self) -> None:
        state = self._state_now()
        if state is BreakerState.OPEN:
            raise CircuitOpen(self.system, self.endpoint, retry_after=max(self._cooldown_left(), 0.0))
        if state is BreakerState.HALF_OPEN and self._trial_in_flight:
            # One trial at a time; the others wait for its verdict rather than pile onto a sick endpoint.
            raise CircuitOpen(self.system, self.endpoint, retry_after=0.0)

    def _should_open(self) -> bool:
        if self._consecutive >= self._settings.failure_threshold:
            return True
        rate = self._settings.failure_rate
        if rate is None or len(self._outcomes) < self._settings.min_calls:
            return False
        failures = sum(1 for ok in self._outcomes if not ok)
        return failures / len(self._outcomes) >= rate


class BreakerRegistry:
    """One breaker per (system, endpoint), created on first use."""

    def __init__(self, settings: BreakerSettings | None = None, clock: Clock | None = None) -> None:
        self._settings = settings or BreakerSettings()
        self._clock: Clock = clock or SystemClock()
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, system: str, endpoint: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get((system, endpoint))
            if breaker is None:
                breaker = CircuitBreaker(system, endpoint, self._settings, self._clock)
                self._breakers[(system, endpoint)] = breaker
            return breaker

    def states(self) -> dict[tuple[str, str], BreakerState]:
        with self._lock:
            breakers = list(self._breakers.items())
        return {key: breaker.state for key, breaker in breakers}
