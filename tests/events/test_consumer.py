"""SubscriptionRunner internals that the behavioural suite cannot see: the due-retry lookup is skipped while the
runner knows nothing is parked (docs/decisions/075), and resumes as soon as something is. (A batch that does
not commit is covered by test_behaviour's held-batch test: it commits later and the retries stay in order.)"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from concord.events.consumer import Backoff, SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.store import Parked
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
