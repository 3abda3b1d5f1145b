from __future__ import annotations

import random

import pytest

from concord.connectors.base import DataRejected, RateLimit, RateLimited, RetryableError
from concord.connectors.runtime.breaker import BreakerRegistry, BreakerSettings, BreakerState, CircuitOpen
from concord.connectors.runtime.caller import ResilientCaller, call_with_resilience
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.governor import GovernorSettings, RateGovernor, RateKey
from concord.connectors.runtime.retry import Retrier, RetryPolicy

KEY = RateKey("acme", "zendesk", "token-1")


def build(
    clock: ManualClock, policy: RetryPolicy | None = None
) -> tuple[ResilientCaller, RateGovernor, BreakerRegistry]:
    governor = RateGovernor(
        {"zendesk": RateLimit(requests=2, per_seconds=1)}, clock=clock, settings=GovernorSettings(max_wait_s=60)
    )
    breakers = BreakerRegistry(BreakerSettings(failure_threshold=3, cooldown_s=30), clock)
    retrier = Retrier(policy or RetryPolicy(max_attempts=5), clock=clock, rng=random.Random(5))
    return ResilientCaller(retrier, breakers, governor), governor, breakers


def test_each_attempt_takes_a_token() -> None:
    clock = ManualClock()
    # Three calls an hour: refill during the short backoff sleeps is negligible.
    governor = RateGovernor({"zendesk": RateLimit(requests=3, per_seconds=3600)}, clock=clock)
    retrier = Retrier(RetryPolicy(max_attempts=5), clock=clock, rng=random.Random(5))
    caller = ResilientCaller(retrier, BreakerRegistry(clock=clock), governor)
    failures = [RetryableError("zendesk", "502"), RetryableError("zendesk", "502")]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    assert caller.call(KEY, "tickets.list", flaky) == "ok"
    assert governor.headroom(KEY).tokens == pytest.approx(0.0, abs=0.01)


def test_rate_limited_pauses_the_key_for_everyone() -> None:
    clock = ManualClock()
    caller, governor, breakers = build(clock, RetryPolicy(max_attempts=1))

    def limited() -> str:
        raise RateLimited("zendesk", "429", retry_after=10.0)

    with pytest.raises(RateLimited):
        caller.call(KEY, "tickets.list", limited)
    assert governor.headroom(KEY).paused_for_s == pytest.approx(10.0)
    # Another worker on the same key now waits out the pause before its own call.
    governor.acquire(KEY)
    assert clock.sleeps == [pytest.approx(10.0)]
    assert breakers.get("zendesk", "tickets.list").state is BreakerState.CLOSED


def test_retry_after_rate_limit_waits_at_least_retry_after() -> None:
    clock = ManualClock()
    caller, _, _ = build(clock)
    calls: list[float] = []

    def limited_once() -> str:
        calls.append(clock.time())
        if len(calls) == 1:
            raise RateLimited("zendesk", "429", retry_after=10.0)
        return "ok"

    assert call_with_resilience(caller, KEY, "tickets.list", limited_once) == "ok"
    assert calls[1] - calls[0] >= 10.0


def test_breaker_opens_and_the_retry_budget_stops_waiting_for_it() -> None:
    clock = ManualClock()
    caller, _, breakers = build(clock, RetryPolicy(max_attempts=10, max_elapsed_s=20))
    calls: list[int] = []

    def down() -> str:
        calls.append(1)
        raise RetryableError("zendesk", "503")

    with pytest.raises(CircuitOpen):
        caller.call(KEY, "users.create", down)
    assert len(calls) == 3
    assert breakers.get("zendesk", "users.create").state is BreakerState.OPEN
    assert breakers.get("zendesk", "tickets.list").state is BreakerState.CLOSED


def test_terminal_errors_pass_straight_through() -> None:
    clock = ManualClock()
    caller, _, _ = build(clock)
    calls: list[int] = []

    def rejected() -> str:
        calls.append(1)
        raise DataRejected("zendesk", "Email: is invalid", field="email", code="InvalidValue")

    with pytest.raises(DataRejected) as caught:
        caller.call(KEY, "users.create", rejected)
    assert caught.value.field == "email"
    assert calls == [1]
