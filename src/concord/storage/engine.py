"""Engines for the two supported databases, and schema upgrades through Alembic at start-up."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


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


class Checkpointer:
    """Moves SQLite's WAL into the database file in the background (PASSIVE: never blocks the writer).

    Once a second: a checkpoint copies each page changed since the last one once, however often it changed, and
    ingest rewrites the same hot pages (golden records, index leaves) many times a second. Every 0.25 s it cost
    ~13 µs of CPU per ingested change on the 2-core box the writer shares; every second ~6 µs (bench/ingest,
    docs/decisions/074). Durability does not depend on it: a commit is durable in the WAL."""

    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.interval_s = interval_s
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

    def checkpoint(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.checkpoint()
            except Exception:  # a failed checkpoint is retried at the next tick
                log.warning("WAL checkpoint failed", exc_info=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe at every start-up)."""
    command.upgrade(alembic_config(engine), "head")
