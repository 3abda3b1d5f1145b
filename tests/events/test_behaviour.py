"""The behavioural suite every event log backend must pass (embedded on SQLite and PostgreSQL, NATS JetStream)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Connection, Engine, func, select

from concord.events import tables as t
from concord.events.consumer import Backoff, SubscriptionRunner
from concord.events.envelope import EventEnvelope, EventLog, StoredEvent
from concord.events.registry import SchemaRegistry, SchemaViolation
from concord.events.relay import publish
from concord.events.replay import replay
from concord.events.store import ConsumerStore
from tests.events.conftest import LogFactory
from tests.events.support import Boom, CrashBeforeAck, Recorder, changed


def runner(log: EventLog, engine: Engine, registry: SchemaRegistry, subscriber: Recorder, name: str = "sub",
           max_attempts: int = 3) -> SubscriptionRunner:
    return SubscriptionRunner(name=name, log=log, engine=engine, subscriber=subscriber, registry=registry,
                              max_attempts=max_attempts, backoff=Backoff(base_s=0.0, max_s=0.0))


def fetch_at_least(log: EventLog, subscription: str, count: int) -> list[StoredEvent]:
    """A fetch may return fewer events than are there; collect until `count` arrived."""
    got: list[StoredEvent] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        got += log.fetch(subscription, count - len(got), wait_s=1.0)
    assert len(got) == count
    return got


def test_append_is_idempotent_by_event_id(log: EventLog, engine: Engine, registry: SchemaRegistry) -> None:
    events = [changed("c1", i) for i in range(5)]
    assert publish(log, registry, events) == 5
    assert publish(log, registry, events[:3]) == 0
    rec = Recorder()
    report = runner(log, engine, registry, rec).drain()
    assert report.processed == 5
    assert [e.event_id for e in rec.seen] == [e.event_id for e in events]


def test_order_per_customer_under_concurrent_publishers(log_factory: LogFactory, engine: Engine,
                                                        registry: SchemaRegistry) -> None:
    customers = [f"cust-{i}" for i in range(8)]
    events = {c: [changed(c, n) for n in range(25)] for c in customers}

    def publisher(mine: list[str]) -> None:
        own_log = log_factory()
        for n in range(25):
            publish(own_log, registry, [events[c][n] for c in mine])

    threads = [threading.Thread(target=publisher, args=(customers[i::4],)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # transient failures force some events through the parked/retry path; order must still hold
    rec = Recorder(flaky={events["cust-0"][3].event_id, events["cust-5"][0].event_id, events["cust-5"][24].event_id})
    report = runner(log_factory(), engine, registry, rec).drain(max_events=37)
    assert report.processed + report.retried == 200
    for c in customers:
        assert rec.order_of(c) == list(range(25)), c


def test_redelivery_does_not_duplicate_effects(log_factory: LogFactory, engine: Engine,
                                               registry: SchemaRegistry) -> None:
    log = log_factory()
    publish(log, registry, [changed("c1", i) for i in range(10)])
    rec = Recorder()
    crashed = runner(CrashBeforeAck(log), engine, registry, rec).drain()
    assert crashed.processed == 10
    log.close()
    fresh = runner(log_factory(), engine, registry, rec)
    again = fresh.run_once(max_events=100, wait_s=5.0)
    again.add(fresh.drain())
    assert again.duplicates == 10 and again.processed == 0
    assert len(rec.seen) == 10


def test_nak_redelivers_after_the_delay(log: EventLog, registry: SchemaRegistry) -> None:
    publish(log, registry, [changed("c1", 0), changed("c2", 0)])
    first = fetch_at_least(log, "s", 2)
    log.ack("s", [first[1]])
    log.nak("s", first[0], delay_s=0.3)
    assert log.fetch("s", 10) == []
    again = log.fetch("s", 10, wait_s=2.0)
    assert [e.envelope.event_id for e in again] == [first[0].envelope.event_id]
    assert again[0].attempt == 2


def test_poison_message_is_dead_lettered_and_others_keep_flowing(log: EventLog, engine: Engine,
                                                                 registry: SchemaRegistry) -> None:
    bad = changed("c1", 1)
    events = [changed("c1", 0), bad, changed("c1", 2), changed("c2", 0), changed("c2", 1)]
    publish(log, registry, events)
    rec = Recorder(poison={bad.event_id})
    sub = runner(log, engine, registry, rec, max_attempts=3)
    report = sub.drain()
    assert report.dead_lettered == 1
    assert rec.order_of("c2") == [0, 1]
    assert rec.order_of("c1") == [0, 2]  # the customer goes on once the poison message is out of the way
    store = ConsumerStore(engine)
    [letter] = store.dead_letters("sub")
    assert (letter.event_id, letter.attempts) == (bad.event_id, 3)
    assert "cannot handle" in letter.error and letter.envelope == bad

    rec.poison.clear()  # the fix
    store.retry_dead_letter(letter)
    assert sub.drain().retried == 1
    assert rec.order_of("c1") == [0, 2, 1]
    assert store.dead_letters("sub") == []


def test_replay_from_an_offset_reproduces_the_final_state(log: EventLog, engine: Engine,
                                                          registry: SchemaRegistry) -> None:
    for n in range(6):
        publish(log, registry, [changed(c, n, fields={"name": f"{c}-v{n}", "seq": n}) for c in ("a", "b", "c")])
    rec = Recorder()
    sub = runner(log, engine, registry, rec)
    sub.drain()
    final = {k: dict(v) for k, v in rec.state.items()}
    rec.state.clear()
    first = log.read(0, 1)[0].offset
    report = replay(sub, first)
    assert rec.state == final
    assert (report.scanned, report.delivered, report.failed) == (18, 18, 0)
    only_b = replay(sub, first, customer="b")
    assert only_b.delivered == 6
    with engine.connect() as conn:
        rows = conn.execute(select(t.event_replays.c.delivered).order_by(t.event_replays.c.id)).scalars().all()
    assert rows == [18, 6]


def test_old_event_is_upcast_on_read(log: EventLog, engine: Engine, registry: SchemaRegistry) -> None:
    publish(log, registry, [changed("c1", 0, fields={"name": "Acme", "credit_status": "ok"})])
    rec = Recorder()
    runner(log, engine, registry, rec).drain()
    [seen] = rec.seen
    assert seen.schema_version == 2
    assert seen.data["changed_fields"] == ["credit_status", "name"]


def test_an_invalid_event_is_refused_at_publish(log: EventLog, engine: Engine, registry: SchemaRegistry) -> None:
    good = changed("c1", 0)
    bad = good.model_copy(update={"event_id": "bad-1", "data": {**good.data, "changes": {}}})
    with pytest.raises(SchemaViolation, match=r"CustomerUpdated v1 refused: data\.changes: "):
        publish(log, registry, [good, bad])
    rec = Recorder()
    assert runner(log, engine, registry, rec).drain().fetched == 0
    assert rec.seen == []


def test_consumer_positions_survive_a_restart(log_factory: LogFactory, engine: Engine,
                                              registry: SchemaRegistry) -> None:
    log = log_factory()
    publish(log, registry, [changed("c1", i) for i in range(4)])
    rec = Recorder()
    assert runner(log, engine, registry, rec).drain().processed == 4
    log.close()
    later = log_factory()
    publish(later, registry, [changed("c1", 4)])
    report = runner(later, engine, registry, rec).drain()
    assert (report.processed, report.duplicates) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.event_processed)).scalar() == 5


class Rendezvous(Recorder):
    """Only succeeds when `parties` customers are inside `handle` at the same time."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=5)

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        if event.data["changes"]["seq"]["after"] == 0:
            self.barrier.wait()
        super().handle(event, tx)


def test_different_customers_proceed_in_parallel_in_order_each(log: EventLog, engine: Engine,
                                                               registry: SchemaRegistry) -> None:
    events = [changed(f"p{c}", n) for n in range(3) for c in range(4)]
    publish(log, registry, events)
    rec = Rendezvous(parties=4)
    sub = SubscriptionRunner("par", log, engine, rec, registry, lanes=4)
    try:
        report = sub.drain()
    finally:
        sub.close()
    assert report.processed == 12 and report.parked == 0, report.errors
    for c in range(4):
        assert rec.order_of(f"p{c}") == [0, 1, 2]


class FailingFlush(Recorder):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def flush(self, tx: Connection) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise Boom("database unavailable")


def test_a_batch_that_cannot_commit_is_held_and_nothing_overtakes_it(log: EventLog, engine: Engine,
                                                                      registry: SchemaRegistry) -> None:
    publish(log, registry, [changed("c1", n) for n in range(3)])
    rec = FailingFlush(failures=1)
    now = [1000.0]
    sub = SubscriptionRunner("held", log, engine, rec, registry, backoff=Backoff(base_s=10.0),
                             clock=lambda: now[0])
    first = sub.run_once(max_events=3, wait_s=2.0)
    assert (first.failed_batches, first.processed) == (1, 0) and first.fetched >= 1
    publish(log, registry, [changed("c1", n) for n in range(3, 5)])
    assert sub.run_once(wait_s=0.2).fetched == 0  # held back: nothing newer may be fetched meanwhile
    now[0] += 11
    assert sub.run_once().processed == first.fetched
    deadline = time.monotonic() + 10
    while len(rec.seen) < first.fetched + 5 and time.monotonic() < deadline:
        sub.run_once(wait_s=0.5)
    # (the first entries are the attempt that rolled back)
    assert rec.order_of("c1")[first.fetched:] == [0, 1, 2, 3, 4]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.event_processed)).scalar() == 5
