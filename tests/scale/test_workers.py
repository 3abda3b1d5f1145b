"""Workers on one PostgreSQL and one NATS JetStream: the outcome equals a single-process run, whatever the
number of workers, and partitions move between workers without losing or repeating a change."""

from __future__ import annotations

import pytest

from concord.hubconfig import Runtime
from concord.scale.bus import ChangeBus
from concord.scale.settings import ScaleSettings
from concord.storage.engine import make_engine
from tests.scale.support import (
    command_state,
    count,
    golden_state,
    order_violations,
    reference,
    thread_worker,
    wait_until,
    workload,
)

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


def publish(scale: ScaleSettings, changes: list) -> None:  # type: ignore[type-arg]
    bus = ChangeBus(scale)
    bus.ensure_stream()
    bus.publish(changes)
    bus.close()


def test_two_workers_reproduce_the_single_process_outcome(pg_url: str, scale: ScaleSettings,
                                                          runtime: Runtime) -> None:
    changes = workload(3000, customers=300)
    workers = [thread_worker(pg_url, runtime, scale, f"w{i}").start() for i in range(2)]
    try:
        publish(scale, changes)
        publish(scale, changes[:500])  # a client retrying: JetStream drops what its duplicate window holds
        engine = make_engine(pg_url)
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") == 3000, 60, "3000 changes")
        wait_until(lambda: all(len(w.worker.leases.held) == 4 for w in workers), 10, "fair shares")
    finally:
        for w in workers:
            w.halt()
    assert not [e for w in workers for e in w.error]
    golden, commands = reference(runtime, changes)
    assert golden_state(engine) == golden
    assert command_state(engine) == commands
    assert order_violations(engine) == []
    assert count(engine, "SELECT count(DISTINCT idempotency_key) FROM change_log") == 3000
    engine.dispose()


def test_a_joining_worker_takes_half_and_a_leaving_one_hands_back(pg_url: str, scale: ScaleSettings,
                                                                  runtime: Runtime) -> None:
    changes = workload(4000, customers=400)
    first = thread_worker(pg_url, runtime, scale, "w0").start()
    engine = make_engine(pg_url)
    try:
        publish(scale, changes[:2000])
        wait_until(lambda: len(first.worker.leases.held) == 8, 10, "the first worker to hold everything")
        second = thread_worker(pg_url, runtime, scale, "w1").start()
        wait_until(lambda: len(second.worker.leases.held) == 4, 10, "the newcomer to get its share")
        publish(scale, changes[2000:3000])
        second.halt()  # a graceful stop gives the leases back at once
        wait_until(lambda: len(first.worker.leases.held) == 8, 10, "the partitions to come back")
        publish(scale, changes[3000:])
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") == 4000, 60, "4000 changes")
    finally:
        first.halt()
    golden, _ = reference(runtime, changes)
    assert golden_state(engine) == golden
    assert order_violations(engine) == []
    engine.dispose()
