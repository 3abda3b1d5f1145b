"""Group commit on SQLite: concurrent units share commits, each gets its own result, and a failed transaction
fails every unit in it without committing any of them."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from concord.workflows.journal.db import JournalUnavailable, SqliteJournalDb


def _db(tmp_path: Path, synchronous: str = "FULL") -> SqliteJournalDb:
    db = SqliteJournalDb(str(tmp_path / "j.sqlite"), synchronous)
    db.script(["CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"])
    return db


def test_concurrent_units_share_commits_and_each_gets_its_result(tmp_path: Path) -> None:
    db = _db(tmp_path)
    before = db.commits
    results: dict[str, int] = {}

    def writer(n: int) -> None:
        for i in range(30):
            key = f"{n}:{i}"
            results[key] = db.write(lambda cur, k=key, v=n * 100 + i: cur.execute(  # type: ignore[misc]
                "INSERT INTO t (k, v) VALUES (?, ?)", (k, v)).rowcount * v)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {f"{n}:{i}": n * 100 + i for n in range(16) for i in range(30)}
    assert db.read("SELECT count(*) FROM t", ()) == [(480,)]
    assert db.commits - before < 480  # fsyncs were shared between threads
    db.close()


def test_a_failing_unit_fails_alone_and_its_statements_are_undone(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('a', 1)"))

    def both(cur: Any) -> None:
        cur.execute("INSERT INTO t (k, v) VALUES ('b', 2)")
        cur.execute("INSERT INTO t (k, v) VALUES ('a', 3)")  # primary key taken

    with pytest.raises(sqlite3.IntegrityError):  # the unit's own error, not the journal's
        db.write(both)
    assert db.read("SELECT k, v FROM t ORDER BY k", ()) == [("a", 1)]
    db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('b', 2)"))  # the connection is usable after
    db.close()
    with pytest.raises(JournalUnavailable, match="closed"):
        db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('c', 3)"))


class HeldCommit:
    """A leader whose unit holds its commit open until released, so later writes queue behind it."""

    def __init__(self, db: SqliteJournalDb) -> None:
        self.db = db
        self.entered, self.release = threading.Event(), threading.Event()
        self.outcomes: dict[str, object] = {}
        self.threads: list[threading.Thread] = []
        self.write("slow", self._slow)
        self.entered.wait(10)

    def _slow(self, cur: Any) -> int:
        self.entered.set()
        self.release.wait(10)
        return int(cur.execute("INSERT INTO t (k, v) VALUES ('slow', 1)").rowcount)

    def write(self, name: str, unit: Any) -> None:
        def run() -> None:
            try:
                self.outcomes[name] = self.db.write(unit)
            except BaseException as exc:
                self.outcomes[name] = type(exc).__name__

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def finish(self, *others: threading.Thread) -> dict[str, object]:
        self.release.set()
        for t in [*self.threads, *others]:
            t.join(10)
        return self.outcomes


def test_a_bad_unit_in_a_shared_commit_does_not_fail_the_others(tmp_path: Path) -> None:
    db = _db(tmp_path)
    held = HeldCommit(db)  # the next two units queue into one batch
    held.write("bad", lambda cur: cur.execute("INSERT INTO t (k, v) VALUES (?, ?)", (object(), 1)))
    held.write("good", lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('good', 2)").rowcount)
    time.sleep(0.2)
    assert held.finish() == {"slow": 1, "bad": "ProgrammingError", "good": 1}
    assert db.read("SELECT k FROM t ORDER BY k", ()) == [("good",), ("slow",)]
    db.close()


def test_closing_fails_queued_writes_instead_of_using_a_closed_connection(tmp_path: Path) -> None:
    db = _db(tmp_path)
    held = HeldCommit(db)
    held.write("queued", lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('queued', 2)").rowcount)
    time.sleep(0.1)
    closer = threading.Thread(target=db.close)
    closer.start()
    time.sleep(0.1)
    # the batch in progress finishes; close() waits for it, then closes the connections
    assert held.finish(closer) == {"slow": 1, "queued": "JournalUnavailable"}


def test_a_locked_database_is_waited_for_not_reported(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db._writer.execute("PRAGMA busy_timeout=20")  # give up on the lock quickly, then retry
    other = sqlite3.connect(tmp_path / "j.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    assert db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('late', 1)").rowcount) == 1
    assert time.monotonic() - started >= 0.4
    assert db.read("SELECT k FROM t", ()) == [("late",)]
    db.close()
    other.close()


@pytest.mark.postgres
def test_two_processes_creating_the_schema_at_once_both_succeed() -> None:
    from tests.services import fresh_postgres_database

    from concord.workflows.journal.db import PostgresJournalDb
    from concord.workflows.journal.store import JournalStore

    for _ in range(3):
        with fresh_postgres_database() as url:
            stores = [JournalStore(PostgresJournalDb(url)) for _ in range(2)]
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def create(store: JournalStore, barrier: threading.Barrier, errors: list[BaseException]) -> None:
                barrier.wait()
                try:
                    store.create_schema()
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=create, args=(s, barrier, errors)) for s in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert errors == []
            assert stores[0].db.read("SELECT count(*) FROM concord_workflows.meta", ()) == [(1,)]
            for store in stores:
                store.db.close()
