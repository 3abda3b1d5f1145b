"""The background checkpointer moves committed WAL frames into the database file on its own thread (decisions
008 and 074): without it `wal_autocheckpoint=0` would leave every page in the WAL."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from concord.storage.engine import Checkpointer, make_engine


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
    assert Checkpointer(engine).interval_s == 1.0
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
