"""The journal's database connections: one transaction runs one or more *units* (callables on a DBAPI cursor).

SQLite has one writer at a time and each commit costs a WAL append (plus an fsync under synchronous=FULL), so
units from concurrent runs are committed together (group commit, leader/follower): the first thread to find no
commit in progress becomes the leader, takes everything queued, runs it in one transaction and hands each unit
its own result. A lone run pays one commit per unit and no hand-off to another thread (the sequential case);
eight runs in flight share commits. PostgreSQL takes a pooled connection per transaction: its commits are
concurrent already.

A failed transaction fails every unit in it with `JournalUnavailable`: the runs concerned stop where they are
(their journal is intact up to the last commit) and are recovered at the next launch.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

T = TypeVar("T")
Unit = Callable[[Any], T]  # receives a DBAPI cursor, runs its statements, returns its result


class JournalUnavailable(BaseException):
    """The journal could not be written (disk full, database gone, engine stopping). A BaseException on
    purpose: workflow code catches `Exception` to handle business failures, and this is not one — the run must
    stop unrecorded and be recovered later, not be marked failed."""


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
    """One connection, group commit. Reads use a second connection so they never wait behind a commit."""

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
        self._closed = False
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
            if self._closed:
                raise JournalUnavailable("the workflow journal is closed")
            self._queue.append(pending)
            while not pending.done:
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

    def _commit(self, batch: list[_Pending]) -> None:
        cur = self._writer.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for pending in batch:
                pending.result = pending.unit(cur)
            cur.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._writer.rollback()
            failure = JournalUnavailable(f"the workflow journal could not commit: {exc!r}")
            for pending in batch:
                pending.error = failure
        finally:
            cur.close()
            for pending in batch:
                pending.done = True

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._read_lock:
            if self._closed:
                raise JournalUnavailable("the workflow journal is closed")
            return list(self._reader.execute(sql, tuple(params)).fetchall())

    def script(self, statements: Sequence[str]) -> None:
        def run(cur: Any) -> None:
            for statement in statements:
                cur.execute(statement)

        self.write(run)

    def close(self) -> None:
        with self._cv:
            while self._leading:
                self._cv.wait()
            self._closed = True
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
        self._closed = False

    def write(self, unit: Unit[T]) -> T:
        if self._closed:
            raise JournalUnavailable("the workflow journal is closed")
        conn = self._engine.raw_connection()
        try:
            cur = conn.cursor()
            result = unit(_PgCursor(cur))
            conn.commit()
            return result
        except Exception as exc:
            conn.rollback()
            raise JournalUnavailable(f"the workflow journal could not commit: {exc!r}") from exc
        finally:
            conn.close()

    def read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._closed:
            raise JournalUnavailable("the workflow journal is closed")
        conn = self._engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("?", "%s"), tuple(params))
            rows = list(cur.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def script(self, statements: Sequence[str]) -> None:
        def run(cur: Any) -> None:
            for statement in statements:
                cur.execute(statement)

        self.write(run)

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()


class _PgCursor:
    """A psycopg cursor that takes the journal's `?` placeholders."""

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
