"""Partition leases on PostgreSQL: fair shares, takeover after the TTL, fencing, the fixed partition count."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from concord.scale.leases import LeaseLost, LeaseManager, fair_share, request_drain
from concord.scale.settings import ScaleConfigError
from concord.storage.engine import make_engine, upgrade

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_url: str) -> Engine:
    eng = make_engine(pg_url)
    upgrade(eng)
    return eng


def test_fair_share_splits_evenly_and_gives_the_rest_to_the_first_workers() -> None:
    live = ["a", "b", "c"]
    assert [fair_share(64, live, w) for w in live] == [22, 21, 21]
    assert fair_share(64, live, "gone") == 0


def test_workers_converge_on_fair_shares_and_a_dead_workers_partitions_move(engine: Engine) -> None:
    a, b = (LeaseManager(engine, w, 8, ttl_s=1.0) for w in ("a", "b"))
    a.prepare()
    b.prepare()
    for _ in range(3):
        a.tick()
        b.tick()
    assert (len(a.held), len(b.held)) == (4, 4)
    assert not set(a.held) & set(b.held)
    time.sleep(1.2)  # `b` stops heartbeating: its leases and its liveness lapse
    gained = a.tick().gained
    assert sorted(g.partition for g in gained) == sorted(b.held)
    assert all(g.token == 2 for g in gained)  # every takeover moves the fencing token
    assert len(a.held) == 8


def test_a_batch_of_a_worker_that_lost_its_lease_does_not_commit(engine: Engine) -> None:
    a = LeaseManager(engine, "a", 4, ttl_s=30.0)
    a.prepare()
    a.tick()
    with engine.begin() as conn:  # another worker took partition 2 over (as after a long pause of `a`)
        conn.execute(text("UPDATE scale_leases SET owner = 'b', token = token + 1 WHERE partition = 2"))
    with pytest.raises(LeaseLost) as lost, engine.begin() as conn:
        a.fence(conn, {1: 10, 2: 11})
    assert lost.value.partitions == [2]
    with engine.connect() as conn:  # the whole transaction rolled back: not even partition 1 moved
        assert conn.execute(text("SELECT committed_seq FROM scale_leases WHERE partition = 1")).scalar() == 0
    with engine.begin() as conn:
        a.fence(conn, {1: 10})
    assert a.positions([1]) == {1: 10}


def test_a_worker_with_another_partition_count_refuses_to_start(engine: Engine) -> None:
    LeaseManager(engine, "a", 64, ttl_s=5.0).prepare()
    with pytest.raises(ScaleConfigError, match=r"database was set up with 64 partitions.*PARTITIONS=32"):
        LeaseManager(engine, "b", 32, ttl_s=5.0).prepare()


def test_a_partition_count_changed_while_running_stops_the_worker(engine: Engine) -> None:
    a = LeaseManager(engine, "a", 16, ttl_s=5.0)
    a.prepare()
    a.tick()
    with engine.begin() as conn:
        conn.execute(text("UPDATE scale_settings SET value = '32' WHERE name = 'partitions'"))
    with pytest.raises(ScaleConfigError, match="partition count mismatch"):
        a.tick()


def test_a_drained_worker_hands_everything_over(engine: Engine) -> None:
    a, b = (LeaseManager(engine, w, 8, ttl_s=5.0) for w in ("a", "b"))
    a.prepare()
    b.prepare()
    for _ in range(2):
        a.tick()
        b.tick()
    assert request_drain(engine, "a")
    a.tick()
    assert a.draining and not a.held
    b.tick()
    assert len(b.held) == 8


def test_a_dead_processes_partitions_move_at_the_next_tick_not_after_the_ttl(engine: Engine) -> None:
    a, b = (LeaseManager(engine, w, 8, ttl_s=60.0) for w in ("a", "b"))
    a.prepare()
    b.prepare()
    for _ in range(3):
        a.tick()
        b.tick()
    assert (len(a.held), len(b.held)) == (4, 4)
    b.presence._drop()  # what a SIGKILL does: the process's connections close, its presence lock goes with them
    started = time.monotonic()
    gained = a.tick().gained
    assert time.monotonic() - started < 5.0  # one tick, while b's leases have ~60 s left
    assert sorted(g.partition for g in gained) == sorted(b.held)
    assert len(a.held) == 8
    with pytest.raises(LeaseLost), engine.begin() as conn:  # b, were it still running, is fenced
        b.fence(conn, {p: 1 for p in b.held})
    a.tick()  # b no longer counts as live: a keeps all 8 rather than leaving b's share unowned
    assert len(a.held) == 8


def test_two_workers_with_one_id_refuse_to_run(engine: Engine) -> None:
    LeaseManager(engine, "same", 8, ttl_s=5.0).prepare()
    with pytest.raises(ScaleConfigError, match="another live worker already runs as 'same'"):
        LeaseManager(engine, "same", 8, ttl_s=5.0).prepare()


def test_a_lost_presence_connection_is_taken_again_and_the_worker_carries_on(engine: Engine) -> None:
    a = LeaseManager(engine, "a", 8, ttl_s=60.0)
    a.prepare()
    a.tick()
    assert len(a.held) == 8
    with engine.begin() as conn:  # the database ends the presence connection (restart, network, admin)
        pid = conn.execute(text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
                                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                )).scalar_one()
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    time.sleep(0.2)
    a.tick()
    assert len(a.held) == 8
    b = LeaseManager(engine, "b", 8, ttl_s=60.0)
    b.prepare()
    assert b.tick().gained == []  # `a` counts as alive again: nothing of it is taken as an orphan
    a.tick()  # ... it hands over the newcomer's share the ordinary way
    assert (len(a.held), len(b.tick().gained)) == (4, 4)
