from __future__ import annotations

import random

import pytest

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import Retrier, RetryEvent, RetryPolicy


class Script:
    """Raises the given errors in turn, then returns 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def retrier(clock: ManualClock, policy: RetryPolicy | None = None, seed: int = 7) -> Retrier:
    return Retrier(policy or RetryPolicy(), clock=clock, rng=random.Random(seed))


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8.0)
    rng = random.Random(42)
    for retry in range(1, 12):
        ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= delay <= ceiling for delay in delays)
        # Full jitter spreads over the whole range rather than clustering at the ceiling.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9


def test_same_seed_same_delays() -> None:
    runs: list[list[float]] = []
    for _ in range(2):
        clock = ManualClock()
        fn = Script(*(RetryableError("hubspot", "503") for _ in range(4)))
        assert retrier(clock, seed=3).run(fn) == "ok"
        runs.append(clock.sleeps)
    assert runs[0] == runs[1]
    assert len(runs[0]) == 4


def test_retries_retryable_errors_until_success() -> None:
    clock = ManualClock()
    events: list[RetryEvent] = []
    fn = Script(RetryableError("stripe", "502"), AmbiguousWrite("stripe", "reset"))
    result = Retrier(RetryPolicy(), clock=clock, rng=random.Random(1), on_retry=events.append).run(fn)
    assert result == "ok"
    assert fn.calls == 3
    assert [event.attempt for event in events] == [1, 2]
    assert [event.delay_s for event in events] == clock.sleeps


@pytest.mark.parametrize(
    "error",
    [
        DataRejected("salesforce", "bad email", field="Email", code="INVALID_EMAIL_ADDRESS"),
        AuthError("hubspot", "401"),
        NotFound("zendesk", "404"),
        Conflict("stripe", "409"),
        QuotaExhausted("salesforce", "daily limit"),
    ],
)
def test_never_retries_terminal_errors(error: ConnectorError) -> None:
    clock = ManualClock()
    fn = Script(error)
    with pytest.raises(type(error)):
        retrier(clock).run(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_does_not_retry_foreign_exceptions() -> None:
    fn = Script(ValueError("a bug"))
    with pytest.raises(ValueError):
        retrier(ManualClock()).run(fn)
    assert fn.calls == 1


def test_gives_up_after_max_attempts_with_last_error() -> None:
    clock = ManualClock()
    errors = [RetryableError("hubspot", f"503 #{n}") for n in range(10)]
    fn = Script(*errors)
    with pytest.raises(RetryableError) as caught:
        retrier(clock, RetryPolicy(max_attempts=3)).run(fn)
    assert fn.calls == 3
    assert caught.value is errors[2]
    assert len(clock.sleeps) == 2


def test_honours_retry_after_over_backoff() -> None:
    clock = ManualClock()
    fn = Script(RateLimited("zendesk", "429", retry_after=5.0))
    assert retrier(clock, RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)).run(fn) == "ok"
    assert clock.sleeps == [5.0]


def test_gives_up_when_the_wait_would_overrun_max_elapsed() -> None:
    clock = ManualClock()
    fn = Script(RateLimited("zendesk", "429", retry_after=100.0))
    with pytest.raises(RateLimited):
        retrier(clock, RetryPolicy(max_elapsed_s=60)).run(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_elapsed_budget_counts_time_spent_in_calls() -> None:
    clock = ManualClock()
    calls: list[float] = []

    def slow_failure() -> str:
        calls.append(clock.monotonic())
        clock.advance(25.0)
        raise RetryableError("tryton", "read timeout")

    with pytest.raises(RetryableError):
        retrier(clock, RetryPolicy(max_attempts=10, max_elapsed_s=60)).run(slow_failure)
    # Third failure ends at ~75 s: already past the 60 s budget, so no fourth attempt.
    assert len(calls) == 3
