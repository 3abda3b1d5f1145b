from __future__ import annotations

import pytest

from concord.connectors.base import NotFound, RateLimited, RetryableError
from concord.connectors.runtime.breaker import (
    BreakerRegistry,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
)
from concord.connectors.runtime.clock import ManualClock


def state_of(breaker: CircuitBreaker) -> BreakerState:
    # A function, not the property inline: mypy would keep the first assert's narrowing across calls.
    return breaker.state


def fail() -> None:
    raise RetryableError("hubspot", "503")


def ok() -> str:
    return "ok"


def opened(clock: ManualClock, settings: BreakerSettings | None = None) -> CircuitBreaker:
    breaker = CircuitBreaker("hubspot", "crm/v3/objects/contacts", settings or BreakerSettings(), clock)
    for _ in range((settings or BreakerSettings()).failure_threshold):
        with pytest.raises(RetryableError):
            breaker.call(fail)
    assert state_of(breaker) is BreakerState.OPEN
    return breaker


def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("hubspot", "contacts", BreakerSettings(failure_threshold=3, cooldown_s=30), clock)
    for _ in range(2):
        with pytest.raises(RetryableError):
            breaker.call(fail)
    assert state_of(breaker) is BreakerState.CLOSED
    with pytest.raises(RetryableError):
        breaker.call(fail)
    assert state_of(breaker) is BreakerState.OPEN
    calls: list[int] = []
    clock.advance(10)
    with pytest.raises(CircuitOpen) as caught:
        breaker.call(lambda: calls.append(1))
    assert calls == []
    assert caught.value.retry_after == pytest.approx(20.0)
    assert caught.value.endpoint == "contacts"


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("hubspot", "contacts", BreakerSettings(failure_threshold=3), ManualClock())
    for _ in range(5):
        with pytest.raises(RetryableError):
            breaker.call(fail)
        with pytest.raises(RetryableError):
            breaker.call(fail)
        assert breaker.call(ok) == "ok"
    assert state_of(breaker) is BreakerState.CLOSED


def test_half_open_allows_one_trial_and_closes_on_success() -> None:
    clock = ManualClock()
    breaker = opened(clock, BreakerSettings(failure_threshold=2, cooldown_s=30))
    clock.advance(30)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    refused: list[CircuitOpen] = []

    def trial() -> str:
        # While the trial is in flight, every other caller is refused.
        try:
            breaker.call(ok)
        except CircuitOpen as error:
            refused.append(error)
        return "trial ok"

    assert breaker.call(trial) == "trial ok"
    assert len(refused) == 1
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.call(ok) == "ok"


def test_failed_trial_reopens_for_a_fresh_cooldown() -> None:
    clock = ManualClock()
    breaker = opened(clock, BreakerSettings(failure_threshold=2, cooldown_s=30))
    clock.advance(31)
    with pytest.raises(RetryableError):
        breaker.call(fail)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(29)
    with pytest.raises(CircuitOpen):
        breaker.check()
    clock.advance(1)
    breaker.check()
    assert state_of(breaker) is BreakerState.HALF_OPEN


@pytest.mark.parametrize("error", [NotFound("hubspot", "404"), RateLimited("hubspot", "429", retry_after=1)])
def test_answers_that_prove_the_endpoint_is_up_do_not_count(error: Exception) -> None:
    breaker = CircuitBreaker("hubspot", "contacts", BreakerSettings(failure_threshold=1), ManualClock())

    def raise_it() -> None:
        raise error

    for _ in range(5):
        with pytest.raises(type(error)):
            breaker.call(raise_it)
    assert state_of(breaker) is BreakerState.CLOSED


def test_not_found_during_trial_closes_the_circuit() -> None:
    clock = ManualClock()
    breaker = opened(clock, BreakerSettings(failure_threshold=1, cooldown_s=5))
    clock.advance(5)

    def missing() -> None:
        raise NotFound("hubspot", "404")

    with pytest.raises(NotFound):
        breaker.call(missing)
    assert state_of(breaker) is BreakerState.CLOSED


def test_failure_rate_opens_without_consecutive_failures() -> None:
    settings = BreakerSettings(failure_threshold=100, failure_rate=0.5, window=10, min_calls=6)
    breaker = CircuitBreaker("zendesk", "tickets", settings, ManualClock())
    for _ in range(2):
        breaker.call(ok)
        with pytest.raises(RetryableError):
            breaker.call(fail)
    assert state_of(breaker) is BreakerState.CLOSED  # 2/4 but fewer than min_calls
    breaker.call(ok)
    with pytest.raises(RetryableError):
        breaker.call(fail)
    assert state_of(breaker) is BreakerState.OPEN  # 3/6


def test_registry_keeps_one_breaker_per_endpoint() -> None:
    registry = BreakerRegistry(BreakerSettings(failure_threshold=1), ManualClock())
    contacts = registry.get("hubspot", "contacts")
    assert registry.get("hubspot", "contacts") is contacts
    with pytest.raises(RetryableError):
        contacts.call(fail)
    assert registry.get("hubspot", "companies").call(ok) == "ok"
    assert registry.states() == {
        ("hubspot", "contacts"): BreakerState.OPEN,
        ("hubspot", "companies"): BreakerState.CLOSED,
    }
