"""The background checkpointer moves committed WAL frames into the database file on its own thread (decisions
008 and 074): without it `wal_autocheckpoint=0` would leave every page in the WAL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from concord.storage.engine import CHECKPOINT_NICE, Checkpointer, WalState, make_engine


def _rows_in_main_file(db: Path, tmp: Path) -> int:
    """Rows the database file holds by itself: a copy without its WAL, opened read-only."""
    copy = tmp / "copy.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as conn:
        try:
            tables = conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 't'").fetchone()[0]
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0]) if tables else 0
        except sqlite3.DatabaseError:  # copied while a checkpoint was writing the file: a torn copy, look again
            return -1


def test_committed_rows_reach_the_database_file_within_an_interval(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")
    assert _rows_in_main_file(db, tmp_path) == 0  # all of it is still in the WAL
    assert Checkpointer(engine).interval_s == 0.5
    checkpointer = Checkpointer(engine, interval_s=0.05)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 5
        while _rows_in_main_file(db, tmp_path) != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _rows_in_main_file(db, tmp_path) == 3
    finally:
        checkpointer.stop()
        engine.dispose()


def _wal(engine: Engine) -> WalState:
    """The WAL's frames now, as a checkpoint that copies nothing new would report them."""
    with engine.connect() as conn:
        _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return WalState(int(frames), int(copied))


def _fill(engine: Engine, commits: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x TEXT)")
    for i in range(commits):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (f"{i:04d}" * 500,))  # ~2 KB: a page or so each


def _overlapping_writer_round(engine: Engine, checkpointer: Checkpointer, finish: bool) -> int:
    """What the pipelined ingest writer does: its transaction is open while the checkpointer catches up, and the
    next one begins right after its commit. Returns the WAL's frames after that next transaction."""
    _fill(engine, 40)  # frames not copied back yet when the writer begins
    writer = engine.raw_connection()
    try:
        cur = writer.cursor()
        cur.execute("INSERT INTO t VALUES ('open while the checkpointer runs')")
        checkpointer.catch_up()
        assert checkpointer.restart_due.is_set()
        writer.commit()
        if finish:
            checkpointer.finish_restart(writer.driver_connection)
        cur.execute("INSERT INTO t VALUES ('next')")
        writer.commit()
    finally:
        writer.close()
    return _wal(engine).frames


def test_a_writer_that_never_pauses_has_its_wal_started_over(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        _fill(engine, 3)
        big = Checkpointer(engine, restart_frames=10_000)
        assert big.catch_up().frames >= 3 and not big.restart_due.is_set()  # below its restart size: one pass
        checkpointer = Checkpointer(engine, restart_frames=32)
        # Without the writer's share the WAL only grows: every frame was copied back, but never at a moment
        # when the writer began a transaction.
        assert _overlapping_writer_round(engine, checkpointer, finish=False) > 80
        checkpointer.restart_due.clear()
        assert _overlapping_writer_round(engine, checkpointer, finish=True) < 10  # started over: one commit's
        assert not checkpointer.restart_due.is_set()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 3 + 2 * 42
    finally:
        engine.dispose()


def test_a_wal_held_by_a_reader_is_not_declared_ready(tmp_path: Path) -> None:
    # A reader on an old snapshot keeps frames from being copied back: no restart can happen, so none is asked.
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        _fill(engine, 5)
        reader = engine.raw_connection()
        try:
            cur = reader.cursor()
            cur.execute("BEGIN")
            cur.execute("SELECT count(*) FROM t").fetchall()
            _fill(engine, 40)
            checkpointer = Checkpointer(engine, restart_frames=32)
            assert checkpointer.catch_up().left > 0
            assert not checkpointer.restart_due.is_set()
            cur.execute("COMMIT")
        finally:
            reader.close()
    finally:
        engine.dispose()


class _BrokenDriver:
    def cursor(self) -> Any:
        raise sqlite3.OperationalError("disk I/O error (injected)")


def test_a_failed_restart_checkpoint_is_only_a_missed_restart() -> None:
    # It runs right after a commit that stands: raising would make the writer redo a committed batch.
    checkpointer = Checkpointer(make_engine("sqlite://"))
    due = checkpointer.restart_due
    due.set()
    checkpointer.finish_restart(_BrokenDriver())
    assert not due.is_set()
    checkpointer.finish_restart(_BrokenDriver())  # not due: the driver is not even touched


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_the_checkpointer_thread_gives_way_to_the_writers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    checkpointer = Checkpointer(engine, interval_s=0.01)
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    checkpointer.start()
    try:
        deadline = time.monotonic() + 5
        thread = next(th for th in threading.enumerate() if th.name == "concord-wal-checkpoint")
        assert thread.native_id is not None
        while os.getpriority(os.PRIO_PROCESS, thread.native_id) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == max(before, CHECKPOINT_NICE)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # only that thread
    finally:
        checkpointer.stop()
        engine.dispose()
