"""Engines for the two supported databases, and schema upgrades through Alembic at start-up."""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)
CHECKPOINT_NICE = 10  # background work: behind the writer, not starved (19 measured no better)
CATCH_UP_PASSES = 8  # each copies what the one before let through; the rest shrinks quickly
WAL_SIZE_LIMIT = 128 * 1024 * 1024  # bytes a restarted WAL is cut back to: above what 0.5 s of full ingest writes


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL lets readers run beside the single writer; FULL makes each commit durable against power loss,
        # and group commit amortises its fsync over a whole batch.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        # Keep the working set (golden records, index pages) in memory: reads were a third of ingest time.
        cur.execute("PRAGMA cache_size=-131072")
        cur.execute("PRAGMA mmap_size=1073741824")
        cur.execute("PRAGMA temp_store=MEMORY")
        # Checkpoints copy the WAL into the database file; done inside a commit they stall the ingest writer
        # (the p99 spikes). `Checkpointer` runs them from another thread instead; SQLite still checkpoints
        # when the last connection of a process closes.
        cur.execute("PRAGMA wal_autocheckpoint=0")
        # A WAL that grew past this (a long reader held restarts back) is cut back when it next starts over.
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def make_engine(url: str, sqlite_synchronous: str = "FULL", pool_size: int = 5) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...). Nothing connects until first use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True)


@dataclass(frozen=True)
class WalState:
    """What a PASSIVE checkpoint reports: frames in the WAL and frames copied back into the database file."""

    frames: int
    copied: int

    @property
    def left(self) -> int:
        return self.frames - self.copied


class Checkpointer:
    """Moves SQLite's WAL into the database file in the background (PASSIVE: never blocks the writer).

    Twice a second: a checkpoint copies each page changed since the last one once, however often it changed, and
    ingest rewrites the same hot pages (golden records, index leaves) many times a second; fewer passes copy fewer
    pages (decision 074 measured 1 s against 0.25 s), but a smaller WAL to start over was faster still under
    sustained ingest (decision 084). Durability does not depend on it: a commit is durable in the WAL.

    Restarting the WAL (docs/decisions/084): SQLite rewinds the WAL to its start only when a write transaction
    begins with every frame already copied back. A writer that never pauses (the pipelined ingest writer always
    has the next batch under way) never met that moment, and the WAL grew without end: 877 MB over bench/ingest's
    40,000 changes, each commit appending to the file. Once the WAL holds `restart_frames`, this thread catches
    up (passes back to back, each copying what was committed during the one before) until a pass found at most
    `tail_frames` new ones, then sets `restart_due`; the writer copies that short tail itself between two transactions
    (`Checkpointer.finish_restart`), so its next write transaction starts the WAL over."""

    def __init__(self, engine: Engine, interval_s: float = 0.5, restart_frames: int = 4096,
                 tail_frames: int = 256) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.restart_frames = restart_frames
        self.tail_frames = tail_frames
        self.restart_due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.engine.dialect.name == "sqlite" and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="concord-wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stop.clear()

    def checkpoint(self) -> WalState:
        with self.engine.connect() as conn:
            _busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return WalState(int(frames), int(copied))  # -1, -1 for a database not in WAL mode (in memory)

    def catch_up(self) -> WalState:
        """One pass; when the WAL is due for a restart, more until one is short (little was committed while it
        ran: PASSIVE reports only the frames there were when it began), then tell the writer."""
        state = self.checkpoint()
        if state.frames < self.restart_frames:
            return state
        for _ in range(CATCH_UP_PASSES):
            before, state = state, self.checkpoint()
            if state.frames < before.frames or self._stop.is_set():
                break  # the WAL started over meanwhile (a writer began while it was all copied back)
            if state.frames - before.frames <= self.tail_frames and state.left == 0:
                self.restart_due.set()
                break
        return state

    def finish_restart(self, driver: Any) -> None:
        """Between a writer's two transactions (`driver`: its DBAPI connection, none open): when a restart is due,
        copy the WAL's last frames, so that the next write transaction starts the WAL over. Skipped if another
        connection commits first or a reader still holds old frames; the next catch-up asks again."""
        if not self.restart_due.is_set():
            return
        self.restart_due.clear()
        try:
            cur = driver.cursor()
            try:
                cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cur.fetchall()
            finally:
                cur.close()
        except Exception:  # only a restart missed: the commit before it stands, and the writer must not redo it
            log.warning("WAL checkpoint before a restart failed", exc_info=True)

    def _run(self) -> None:
        yield_cpu_to_writers()
        while not self._stop.wait(self.interval_s):
            try:
                self.catch_up()
            except Exception:  # a failed checkpoint is retried at the next tick
                log.warning("WAL checkpoint failed", exc_info=True)


def yield_cpu_to_writers() -> None:
    """Lower the calling thread's CPU priority. Linux applies nice values per thread: on a busy box the copying
    of a checkpoint pass then waits for the ingest writer and its committer instead of taking a core from them.
    A third of bench/ingest's slowest acknowledgements came while a pass ran; with this the p99 fell by ~3 ms
    (docs/decisions/084). Elsewhere (or when refused) the thread simply keeps its priority."""
    if sys.platform == "linux":
        try:
            tid = threading.get_native_id()  # never raise it: a process started nicer than this stays so
            os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), CHECKPOINT_NICE))
        except OSError:
            log.debug("could not lower the checkpointer's priority", exc_info=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe at every start-up)."""
    command.upgrade(alembic_config(engine), "head")
