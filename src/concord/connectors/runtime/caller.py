"""Governor → breaker → retry, composed once for every connector call.

Each attempt first asks the endpoint's breaker (fail fast without spending a token), then takes a token from
the governor, then runs the call through the breaker. A 429's `Retry-After` pauses the whole key in the
governor, so sibling workers stop too, and the retry waits at least that long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from concord.connectors.base import RateLimited
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.retry import Retrier

T = TypeVar("T")


class BoundCall:
    """A `ResilientCaller` fixed to one key and endpoint; `run` fits `ExactlyOnceWriter(runner=...)`."""

    def __init__(self, caller: ResilientCaller, key: RateKey, endpoint: str) -> None:
        self._caller = caller
        self._key = key
        self._endpoint = endpoint

    def run(self, fn: Callable[[], T]) -> T:
        return self._caller.call(self._key, self._endpoint, fn)


class ResilientCaller:
    def __init__(
        self, retrier: Retrier, breakers: BreakerRegistry, governor: RateGovernor | None = None
    ) -> None:
        self._retrier = retrier
        self._breakers = breakers
        self._governor = governor

    @property
    def governor(self) -> RateGovernor | None:
        return self._governor

    def call(self, key: RateKey, endpoint: str, fn: Callable[[], T]) -> T:
        breaker = self._breakers.get(key.system, endpoint)

        def attempt() -> T:
            breaker.check()
            if self._governor is not None:
                self._governor.acquire(key)
            try:
                return breaker.call(fn)
            except RateLimited as error:
                if self._governor is not None and error.retry_after:
                    self._governor.pause(key, error.retry_after)
                raise

        return self._retrier.run(attempt)

    def bind(self, key: RateKey, endpoint: str) -> BoundCall:
        return BoundCall(self, key, endpoint)


def call_with_resilience(caller: ResilientCaller, key: RateKey, endpoint: str, fn: Callable[[], T]) -> T:
    return caller.call(key, endpoint, fn)
