"""Group commit on SQLite: concurrent units share commits, each gets its own result, and a failed transaction
fails every unit in it without committing any of them."""

from __future__ import annotations

import threading
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


def test_a_failing_unit_fails_its_whole_transaction(tmp_path: Path) -> None:
    db = _db(tmp_path)
    db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('a', 1)"))

    def both(cur: Any) -> None:
        cur.execute("INSERT INTO t (k, v) VALUES ('b', 2)")
        cur.execute("INSERT INTO t (k, v) VALUES ('a', 3)")  # primary key taken

    with pytest.raises(JournalUnavailable, match="could not commit"):
        db.write(both)
    assert db.read("SELECT k, v FROM t ORDER BY k", ()) == [("a", 1)]
    db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('b', 2)"))  # the connection is usable after
    db.close()
    with pytest.raises(JournalUnavailable, match="closed"):
        db.write(lambda cur: cur.execute("INSERT INTO t (k, v) VALUES ('c', 3)"))
