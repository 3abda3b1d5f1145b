"""One sync loop per database: whoever holds the lock delivers the outbox and polls the capture cursors.

Two loops over one database would each deliver the same pending command (the dispatcher reads `pending`
without claiming rows: on the embedded default one process owns the outbox), and two pollers would race on one
cursor. Connector writes are idempotent, so the effect would stay single, but a customer's commands could be
sent out of order. A second `concord serve` or `concord sync` therefore waits as a standby and takes over when
the holder stops or dies: the lock is released by the operating system (file lock) or by PostgreSQL (session
advisory lock) when its process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

SYNC_LOCK = 0x636F6E73  # "cons"; beside the scale runner's migration lock ("conc") and presence locks ("cond")


class SyncLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it. Never blocks."""
        ...

    def release(self) -> None: ...

    def held(self) -> bool:
        """Whether this owner still holds it (checked periodically by the running loop)."""
        ...

    def holder(self) -> str:
        """Who holds it, as far as can be told (for the standby's log line)."""
        ...


class FileSyncLock:
    """SQLite: an exclusive `flock` on `<database>.sync-lock`, holding the owner's pid for the operator."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held(self) -> bool:
        """A flock lasts as long as the open file; but if someone deleted the lock file, a newcomer locks a new
        file of the same name and both would run: compare the inode we hold with the one at the path."""
        if self._file is None:
            return False
        try:
            return os.fstat(self._file.fileno()).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    def holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            return "unknown"
        return f"pid {pid}" if pid else "unknown"


class AdvisorySyncLock:
    """PostgreSQL: a session advisory lock on a connection kept open while held (closing it releases the lock)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SYNC_LOCK}).scalar())
        conn.commit()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            found = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :k AND "
                "objsubid = 1 AND pid = pg_backend_pid()"), {"k": SYNC_LOCK}).scalar()
            self._conn.commit()
        except Exception:  # the session is gone (restart, network, idle timeout): so is the lock
            return False
        return bool(found)

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SYNC_LOCK})
                self._conn.commit()
            except Exception:  # a lost session took the lock with it: nothing left to release
                log.warning("sync lock: unlock failed (session already gone)")
            finally:
                self._conn.close()
                self._conn = None

    def holder(self) -> str:
        with self.engine.connect() as conn:
            pid = conn.execute(text("SELECT a.pid FROM pg_locks k JOIN pg_stat_activity a ON a.pid = k.pid "
                                    "WHERE k.locktype = 'advisory' AND k.granted AND k.objid = :k AND "
                                    "k.objsubid = 1"), {"k": SYNC_LOCK}).scalar()
        return "unknown" if pid is None else f"PostgreSQL backend pid {pid}"


class NoSyncLock:
    """An in-memory database belongs to one process: nothing to share."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def held(self) -> bool:
        return True

    def holder(self) -> str:
        return "this process"


def sync_lock(engine: Engine) -> SyncLock:
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        return AdvisorySyncLock(engine)
    database = engine.url.database
    if backend == "sqlite" and database and database != ":memory:" and not database.startswith("file::memory:"):
        return FileSyncLock(Path(f"{database}.sync-lock"))
    return NoSyncLock()
