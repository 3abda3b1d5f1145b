"""The journal's database connections: one transaction runs one or more *units* (callables on a DBAPI cursor).

SQLite has one writer at a time and each commit costs a WAL append (plus an fsync under synchronous=FULL), so
units from concurrent runs are committed together (group commit, leader/follower): the first thread to find no
commit in progress becomes the leader, takes everything queued, runs it in one transaction and hands each unit
its own result. A lone run pays one commit per unit and no hand-off to another thread (the sequential case);
eight runs in flight share commits. PostgreSQL takes a pooled connection per transaction: its commits are
concurrent already.

Transient trouble (a locked file, a lost connection) is retried with backoff until it passes or the journal is
closed; only a closed journal raises `JournalUnavailable`, and the runs concerned stop where they are (their
journal intact up to the last commit) to be resumed by a live executor.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

T = TypeVar("T")
log = logging.getLogger(__name__)
# SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL (primary result codes)
_SQLITE_TRANSIENT = frozenset({5, 6, 10, 13, 14, 15})
Unit = Callable[[Any], T]  # receives a DBAPI cursor, runs its statements, returns its result


class JournalUnavailable(BaseException):
    """The journal is closed (the engine is stopping): nothing more can be recorded. A BaseException on purpose:
    workflow code catches `Exception` to handle business failures, and this is not one — the run must stop
    unrecorded and be resumed later, not be marked failed. Transient database trouble is not this: it is
    retried (see `Backoff`) until it passes or the journal is closed."""


def transient(error: BaseException) -> bool:
    """A failure that may pass by itself: a locked or busy SQLite file, a lost PostgreSQL connection, a
    serialization failure. Anything else (a bad parameter, a constraint) is the caller's error."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(error, sqlite3.Error):  # "no such table" is an OperationalError too: go by the result code
        return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_TRANSIENT
    return isinstance(error, (psycopg.OperationalError, sa_exc.OperationalError))


class Backoff:
    """Waits between retries of transient failures — 50 ms doubling to 2 s — until `closed` is set."""

    def __init__(self, closed: threading.Event, what: str) -> None:
        self.closed = closed
        self.what = what
        self.delay = 0.05
        self.logged_at = 0.0

    def wait(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self.logged_at > 30:  # a long outage logs twice a minute, not per retry
            log.warning("workflow journal %s failed, retrying: %r", self.what, error)
            self.logged_at = now
        if self.closed.wait(self.delay):
            raise JournalUnavailable(f"the workflow journal closed while {self.what} was retried: {error!r}")
        self.delay = min(self.delay * 2, 2.0)


class JournalDb(Protocol):
    dialect: str

    def write(self, unit: Unit[T]) -> T: ...

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    def script(self, statements: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class _Pending:
    __slots__ = ("done", "error", "result", "unit")

    def __init__(self, unit: Unit[Any]) -> None:
        self.unit = unit
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class SqliteJournalDb:
    """One writer connection with group commit; reads use a second connection so they never wait behind a
    commit. Each unit runs under a savepoint: a unit that fails (a bad parameter) fails alone, not its batch."""

    dialect = "sqlite"

    def __init__(self, path: str, synchronous: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect(path, synchronous)
        self._reader = self._connect(path, synchronous)
        self._read_lock = threading.Lock()
        self._cv = threading.Condition()
        self._queue: list[_Pending] = []
        self._leading = False
        self._closed = threading.Event()
        self.commits = 0  # transactions committed (units per commit = the group commit's gain)

    @staticmethod
    def _connect(path: str, synchronous: str) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a batch takes the write lock up front
        # (a deferred transaction could fail to upgrade its read lock under another process's writer).
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def write(self, unit: Unit[T]) -> T:
        pending = _Pending(unit)
        with self._cv:
            self._queue.append(pending)
            while not pending.done:
                if self._closed.is_set():  # close() failed the queue; a late arrival fails here
                    self._fail([pending], "the workflow journal is closed")
                    break
                if self._leading:
                    self._cv.wait()
                    continue
                self._leading = True
                batch, self._queue = self._queue, []
                self._cv.release()
                try:
                    self._commit(batch)
                finally:
                    self._cv.acquire()
                    self._leading = False
                    self._cv.notify_all()
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

    @staticmethod
    def _fail(batch: list[_Pending], message: str) -> None:
        for pending in batch:
            if not pending.done:
                pending.error = JournalUnavailable(message)  # one each: threads do not share a traceback
                pending.done = True

    def _commit(self, batch: list[_Pending]) -> None:
        backoff = Backoff(self._closed, "a commit")
        while True:
            try:
                self._attempt(batch)
                return
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._writer.execute("ROLLBACK")
                if not transient(exc):
                    self._fail(batch, f"the workflow journal could not commit: {exc!r}")
                    return
                try:
                    backoff.wait(exc)
                except JournalUnavailable as closed:
                    self._fail(batch, str(closed))
                    return

    def _attempt(self, batch: list[_Pending]) -> None:
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for pending in batch:
                pending.result, pending.error = None, None
                cur.execute("SAVEPOINT unit")
                try:
                    pending.result = pending.unit(cur)
                except Exception as exc:
                    if transient(exc):
                        raise
                    cur.execute("ROLLBACK TO unit")
                    pending.error = exc
                cur.execute("RELEASE unit")
            cur.execute("COMMIT")
            self.commits += 1
            for pending in batch:
                pending.done = True
        finally:
            cur.close()

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        backoff = Backoff(self._closed, "a read")
        while True:
            with self._read_lock:
                if self._closed.is_set():
                    raise JournalUnavailable("the workflow journal is closed")
                try:
                    return list(self._reader.execute(sql, tuple(params)).fetchall())
                except sqlite3.Error as exc:
                    if not transient(exc):
                        raise
                    error = exc
            backoff.wait(error)

    def script(self, statements: Sequence[str]) -> None:
        def run(cur: Any) -> None:
            for statement in statements:
                cur.execute(statement)

        self.write(run)

    def close(self) -> None:
        with self._cv:
            self._closed.set()
            self._fail(self._queue, "the workflow journal is closed")
            self._queue = []
            self._cv.notify_all()
            while self._leading:
                self._cv.wait()
        with self._read_lock:
            self._reader.close()
        self._writer.close()


class PostgresJournalDb:
    """A pooled psycopg connection per transaction (SQL written with `?` is translated to psycopg's `%s`)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._engine: Engine = create_engine(parsed, pool_size=8, max_overflow=16, pool_pre_ping=True)
        self._closed = threading.Event()

    def _run(self, work: Callable[[Any], T], what: str) -> T:
        backoff = Backoff(self._closed, what)
        while True:
            if self._closed.is_set():
                raise JournalUnavailable("the workflow journal is closed")
            conn = None
            try:
                conn = self._engine.raw_connection()
                result = work(conn.cursor())
                conn.commit()
                return result
            except Exception as exc:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.rollback()
                if not transient(exc):
                    raise
                error: Exception = exc
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            backoff.wait(error)

    def write(self, unit: Unit[T]) -> T:
        return self._run(lambda cur: unit(_PgCursor(cur)), "a commit")

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._run(lambda cur: list(_PgCursor(cur).execute(sql, params).fetchall()), "a read")

    def script(self, statements: Sequence[str]) -> None:
        def run(cur: Any) -> None:
            for statement in statements:
                cur.execute(statement)

        self.write(run)

    def close(self) -> None:
        self._closed.set()
        self._engine.dispose()


class _PgCursor:
    """A psycopg cursor that takes the journal's `?` placeholders (no journal SQL contains a literal `?`)."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _PgCursor:
        self._cur.execute(sql.replace("?", "%s"), tuple(params))
        return self

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())


def open_db(url: str, synchronous: str = "FULL") -> JournalDb:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteJournalDb(parsed.database or ":memory:", synchronous)
    if parsed.get_backend_name() == "postgresql":
        return PostgresJournalDb(url)
    raise ValueError(f"the workflow journal needs SQLite or PostgreSQL, not {parsed.get_backend_name()}")
