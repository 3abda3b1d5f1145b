"""SubscriptionRunner internals that the behavioural suite cannot see: the due-retry lookup is skipped while the
runner knows nothing is parked (docs/decisions/075), resumes as soon as it parks something, and still notices
what another process parked (`concord dlq retry`): `drain` at once, a long-running loop within a second."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine

from concord.events.consumer import Backoff, SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.store import ConsumerStore, Parked
from tests.events.support import Recorder, changed


def counting_due_heads(runner: SubscriptionRunner) -> list[int]:
    calls: list[int] = []
    real: Callable[[str, float, int], list[Parked]] = runner.store.due_heads

    def spy(subscription: str, now: float, limit: int) -> list[Parked]:
        calls.append(1)
        return real(subscription, now, limit)

    runner.store.due_heads = spy  # type: ignore[method-assign]
    return calls


def test_due_retries_are_looked_up_only_while_something_may_be_parked(engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    flaky = changed("c2", 0)
    rec = Recorder(flaky={flaky.event_id})
    runner = SubscriptionRunner("sub", log, engine, rec, registry, backoff=Backoff(base_s=0.0, max_s=0.0))
    calls = counting_due_heads(runner)

    publish(log, registry, [changed("c1", n) for n in range(3)])
    assert runner.run_once().processed == 3
    assert len(calls) == 1  # a fresh runner cannot know, so it looks once
    publish(log, registry, [changed("c1", 3)])
    assert runner.run_once().processed == 1
    assert runner.run_once().fetched == 0
    assert len(calls) == 1  # clean batches committed: nothing can be due

    publish(log, registry, [flaky, changed("c2", 1)])
    assert runner.run_once().parked == 2  # the failure and the event behind it
    report = runner.run_once()  # looks again, and the retry goes through in order
    assert len(calls) >= 2 and report.retried == 2
    assert rec.order_of("c2") == [0, 1]


def park_elsewhere(engine: Engine, subscription: str, customer: str, seq: int) -> None:
    """What `concord dlq retry` does from another process: park an event, due now."""
    with engine.begin() as conn:
        ConsumerStore(engine).park(conn, subscription, changed(customer, seq), 0, time.time(), None)


def test_a_retry_parked_by_another_process_is_noticed(engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    rec = Recorder()
    runner = SubscriptionRunner("sub", log, engine, rec, registry, backoff=Backoff(base_s=0.0, max_s=0.0))
    publish(log, registry, [changed("c1", 0)])
    assert runner.run_once().processed == 1  # a clean batch: nothing known to be parked

    park_elsewhere(engine, "sub", "c9", 0)
    assert runner.drain().retried == 1  # drain always looks

    publish(log, registry, [changed("c1", 1)])
    assert runner.run_once().processed == 1
    park_elsewhere(engine, "sub", "c9", 1)
    deadline, retried = time.monotonic() + 5, 0
    while retried == 0 and time.monotonic() < deadline:  # a long-running loop notices within about a second
        retried = runner.run_once(wait_s=0.1).retried
    assert retried == 1 and time.monotonic() < deadline - 3
    assert rec.order_of("c9") == [0, 1]
