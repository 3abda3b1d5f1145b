"""One sync loop per database: a second `serve`/`sync` waits as a standby and takes over when the holder stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from concord.delivery.loop import CaptureSpec, SyncLoop
from concord.delivery.store import DeliveryStore
from concord.delivery.sync_lock import SYNC_LOCK, AdvisorySyncLock, FileSyncLock, NoSyncLock, sync_lock
from concord.ingest.service import IngestService
from tests.delivery.memory_connector import MemorySystem


def test_a_file_lock_is_held_by_one_owner_at_a_time_and_names_its_pid(tmp_path: Path) -> None:
    first, second = FileSyncLock(tmp_path / "c.db.sync-lock"), FileSyncLock(tmp_path / "c.db.sync-lock")
    assert first.acquire()
    assert not second.acquire()
    assert second.holder().startswith("pid ")
    first.release()
    assert second.acquire()
    second.release()


def test_the_lock_follows_the_database_backend(tmp_path: Path) -> None:
    from concord.storage.engine import make_engine

    assert isinstance(sync_lock(make_engine(f"sqlite:///{tmp_path / 'c.db'}")), FileSyncLock)
    assert isinstance(sync_lock(make_engine("sqlite://")), NoSyncLock)


def _loop(engine: Engine, ingest: IngestService, crm: MemorySystem) -> SyncLoop:
    spec = CaptureSpec(system="salesforce", object="Account", entity="account", every_s=0.05)
    return SyncLoop(DeliveryStore(engine), ingest, {"salesforce": crm}, [spec], idle_s=0.05, standby_s=0.05)


def _wait(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_a_second_loop_is_a_standby_until_the_first_stops(engine: Engine, ingest: IngestService) -> None:
    crm = MemorySystem("salesforce", ("Account",))
    first, second = _loop(engine, ingest, crm), _loop(engine, ingest, crm)
    first.start()
    try:
        second.start()
        time.sleep(0.3)  # several standby retries
        assert first.active.is_set() and not second.active.is_set()
        assert all(not p._thread.is_alive() for p in second.pollers)  # a standby polls nothing
    finally:
        first.stop()
    try:
        assert _wait(second.active.is_set), "the standby did not take over after the holder stopped"
        assert all(p._thread.is_alive() for p in second.pollers)
    finally:
        second.stop()
    third = _loop(engine, ingest, crm)
    with third:  # the lock was released on stop
        assert third.active.is_set()


@pytest.mark.postgres
def test_postgres_holds_the_lock_in_a_session() -> None:
    from concord.storage.engine import make_engine
    from tests.services import fresh_postgres_database

    with fresh_postgres_database() as url:
        _two_sessions(make_engine(url), make_engine(url), AdvisorySyncLock)


def _two_sessions(one: Engine, two: Engine, kind: type[AdvisorySyncLock]) -> None:
    try:
        first, second = kind(one), kind(two)
        assert first.acquire()
        assert not second.acquire()
        assert second.holder().startswith("PostgreSQL backend pid") and first.held() and not second.held()
        first.release()
        assert second.acquire()
        with one.connect() as conn:  # a cut session (restart, idle timeout) takes the lock with it
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND objid = :k AND granted"), {"k": SYNC_LOCK})
        assert not second.held()
        second.release()  # nothing left to release: no error
        assert first.acquire()
        first.release()
    finally:
        one.dispose()
        two.dispose()


class _FlakyLock:
    """A lock whose hold can be cut from outside, as a PostgreSQL restart cuts a session's advisory lock."""

    def __init__(self) -> None:
        self.owned = False
        self.free = True

    def acquire(self) -> bool:
        if not self.free:
            return False
        self.owned, self.free = True, False
        return True

    def held(self) -> bool:
        return self.owned

    def release(self) -> None:
        if self.owned:
            self.free = True
        self.owned = False

    def holder(self) -> str:
        return "someone"



def test_a_loop_that_loses_its_lock_stops_and_stands_by_then_takes_over_again(
        engine: Engine, ingest: IngestService) -> None:
    crm, lock = MemorySystem("salesforce", ("Account",)), _FlakyLock()
    spec = CaptureSpec(system="salesforce", object="Account", entity="account", every_s=0.05)
    loop = SyncLoop(DeliveryStore(engine), ingest, {"salesforce": crm}, [spec], idle_s=0.05, lock=lock,
                    standby_s=0.05)
    with loop:
        assert loop.active.is_set()
        first = loop.pollers[0]
        lock.owned, lock.free = False, False  # the session is cut and another process takes the lock at once
        assert _wait(lambda: not loop.active.is_set()), "the loop kept running without its lock"
        assert _wait(lambda: not first.alive())
        lock.free = True  # the other process went away
        assert _wait(loop.active.is_set), "the loop did not take over again"
        assert loop.pollers[0] is not first and loop.pollers[0].alive()
