"""Batch-oriented SQL for the ingest path: few statements per group commit, whatever its size."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from concord.canonical.golden import GoldenRecord
from concord.storage import tables as t

ExternalKey = tuple[str, str, str, str]  # tenant, system, entity, external id
_CHUNK = 400  # bound parameters per IN list stay far below SQLite's limit


class ConcurrencyConflict(RuntimeError):
    """Another writer changed a golden record since this batch read it; the batch is retried."""


# The ingest writer builds its change-log and outbox rows as tuples in these column orders, not as dicts: reading
# sixteen keys back out of each row dict for the driver cost ~10% of an ingested change (decision 091).
# tests/storage/test_repository.py pins both against the tables' INSERT columns.
CHANGE_LOG_COLUMNS: Final = ("change_id", "tenant", "idempotency_key", "correlation_id", "system", "entity",
                             "external_id", "canonical_id", "source_ts_us", "received_at", "mapping_version",
                             "status", "rejected", "pending", "payload", "decision")
OUTBOX_COLUMNS: Final = ("message_id", "tenant", "kind", "type", "target", "entity", "canonical_id",
                         "correlation_id", "causation_id", "payload", "created_at", "attempts")


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _group(pairs: list[tuple[Any, str]]) -> dict[Any, list[str]]:
    grouped: dict[Any, list[str]] = {}
    for group, value in pairs:
        grouped.setdefault(group, []).append(value)
    return grouped


@dataclass
class BatchWrites:
    """Everything one group commit writes, collected first and flushed with one statement per table."""

    new_records: list[GoldenRecord] = field(default_factory=list)
    changed_records: list[tuple[GoldenRecord, int]] = field(default_factory=list)  # record, version read
    bindings: list[dict[str, Any]] = field(default_factory=list)
    match_keys: list[dict[str, Any]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)  # in CHANGE_LOG_COLUMNS order
    outbox: list[tuple[Any, ...]] = field(default_factory=list)  # in OUTBOX_COLUMNS order
    approvals: list[dict[str, Any]] = field(default_factory=list)
    # The golden rows as serialised by `freeze` (None: not yet), so a pipelined writer can serialise them while
    # the previous batch's commit still holds the connection (ingest/pipeline.py).
    golden_new: list[dict[str, Any]] | None = None
    golden_changed: list[tuple[Any, ...]] | None = None

    def freeze(self, now: float) -> None:
        self.golden_new = [{"id": r.id, "tenant": r.tenant, "entity": r.entity, "version": r.version,
                            "lifecycle_state": r.value("lifecycle_state"), "data": dumps(r.to_json()),
                            "created_at": now, "updated_at": now} for r in self.new_records]
        self.golden_changed = [(r.version, dumps(r.to_json()), r.value("lifecycle_state"), now, r.id, old)
                               for r, old in self.changed_records]


class IngestRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        # Called before every use of the connection once set: the pipelined writer's reads wait there until the
        # previous batch's commit has finished with the connection (docs/decisions/083).
        self.ready: Callable[[], None] | None = None

    @property
    def conn(self) -> Connection:
        if self.ready is not None:
            self.ready()
        return self._conn

    def _cursor(self) -> Any:
        """The DBAPI cursor of this same connection, hence of its transaction. The group commit's statements
        go through it directly: SQLAlchemy's per-statement work (execution context, events, result wrapping)
        cost more than SQLite's own on these batches (bench/ingest profiles, docs/decisions/074)."""
        return self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    # The hot reads below are plain driver SQL: building and caching SQLAlchemy expressions for an IN list of a
    # different length every batch cost more than the queries themselves (profiles of bench/ingest).
    def _rows(self, sql: str, params: list[Any]) -> list[Any]:
        cursor = self._cursor()
        try:
            if self.postgres:
                # Never a server-side prepared statement: psycopg prepares a text after five runs, and the plan
                # PostgreSQL then keeps for the connection's life was made for the tables as they were — for
                # the idempotency lookup, a scan of the whole change log per batch (10 → 305 µs per change).
                cursor.execute(sql.replace("?", "%s"), tuple(params), prepare=False)
            else:
                cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(self.conn, sql, params, exc) from exc
        finally:
            cursor.close()

    def _execute_many(self, sql: str, params: list[Any]) -> int:
        """Run `sql` once per parameter set; the number of rows changed (summed over all of them)."""
        cursor = self._cursor()
        try:
            cursor.executemany(sql, params)
            return int(cursor.rowcount)
        except self.conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(self.conn, sql, params, exc) from exc
        finally:
            cursor.close()

    def replays(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        # Grouped by tenant so each lookup is `tenant = ? AND key IN (...)`: SQLite turns a row-value IN
        # list into a full index scan, which cost milliseconds per batch.
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for tenant, idem_keys in _group(keys).items():
            for chunk in _chunks(idem_keys):
                sql = ("SELECT idempotency_key, decision FROM change_log WHERE tenant = ?"
                       f" AND idempotency_key IN ({_marks(chunk)})")
                for key, decision in self._rows(sql, [tenant, *chunk]):
                    found[(tenant, key)] = orjson.loads(decision)
        return found

    def bindings_by_external(self, keys: list[ExternalKey]) -> dict[ExternalKey, str]:
        found: dict[ExternalKey, str] = {}
        for (tenant, system, entity), external_ids in _group([((k[0], k[1], k[2]), k[3]) for k in keys]).items():
            for chunk in _chunks(external_ids):
                sql = ("SELECT external_id, canonical_id FROM bindings WHERE tenant = ? AND system = ? AND entity = ?"
                       f" AND external_id IN ({_marks(chunk)})")
                for external_id, canonical_id in self._rows(sql, [tenant, system, entity, *chunk]):
                    found[(tenant, system, entity, external_id)] = canonical_id
        return found

    def bindings_by_canonical(self, ids: list[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT canonical_id, system, external_id FROM bindings WHERE canonical_id IN ({_marks(chunk)})"
            for cid, system, external_id in self._rows(sql, list(chunk)):
                found.setdefault(cid, {})[system] = external_id
        return found

    def match_keys(self, tenant: str, entity: str, keys: list[str]) -> dict[str, str]:
        m = t.match_keys.c
        found: dict[str, str] = {}
        for chunk in _chunks(keys):
            rows = self.conn.execute(select(m.key, m.canonical_id).where(
                m.tenant == tenant, m.entity == entity, m.key.in_(chunk)))
            found.update({key: cid for key, cid in rows})
        return found

    def golden(self, ids: list[str]) -> dict[str, GoldenRecord]:
        found: dict[str, GoldenRecord] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT id, tenant, entity, version, data FROM golden_records WHERE id IN ({_marks(chunk)})"
            for rid, tenant, entity, version, data in self._rows(sql, list(chunk)):
                found[rid] = GoldenRecord.from_json(tenant, entity, rid, version, orjson.loads(data))
        return found

    def write(self, batch: BatchWrites) -> None:
        now = time.time()
        self._write_golden(batch, now)
        if batch.bindings:
            self._insert_many(t.bindings, batch.bindings)
        if batch.match_keys:
            if self.postgres:
                self.conn.execute(_insert_ignore(self.conn, t.match_keys), batch.match_keys)
            else:  # first writer of a match key wins, as _insert_ignore says
                self._execute_many(_insert_sql("sqlite", t.match_keys) + " ON CONFLICT DO NOTHING",
                                   list(map(_row_values(t.match_keys), batch.match_keys)))
        for table, rows in ((t.change_log, batch.changes), (t.outbox, batch.outbox)):
            if rows:
                self._insert_tuples(table, rows)
        if batch.approvals:
            self._insert_many(t.approvals, batch.approvals)

    def _insert_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        self._insert_tuples(table, list(map(_row_values(table), rows)))

    def _insert_tuples(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows given as tuples in `_insert_columns(table)` order."""
        if not self.postgres:
            self._execute_many(_insert_sql("sqlite", table), rows)
            return
        # PostgreSQL executes an executemany row by row (~40 µs each, measured); COPY streams the batch
        # in one statement inside the same transaction.
        columns = _insert_columns(table)
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        cursor = self._cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except self.conn.dialect.loaded_dbapi.Error as exc:  # e.g. a binding race: retried as IntegrityError
            raise _wrapped(self.conn, sql, rows, exc) from exc
        finally:
            cursor.close()

    def _write_golden(self, batch: BatchWrites, now: float) -> None:
        if batch.golden_new is None or batch.golden_changed is None:
            batch.freeze(now)
        assert batch.golden_new is not None and batch.golden_changed is not None
        new, params = batch.golden_new, batch.golden_changed
        if new:
            if self.postgres:
                self.conn.execute(insert(t.golden_records), new)
            else:  # a duplicate id still fails the primary key here (IntegrityError: the batch is retried)
                self._execute_many(_insert_sql("sqlite", t.golden_records),
                                   list(map(_row_values(t.golden_records), new)))
        if not params:
            return
        sql = ("UPDATE golden_records SET version = ?, data = ?, lifecycle_state = ?, updated_at = ?"
               " WHERE id = ? AND version = ?")
        # The version check is the optimistic lock: fewer rows changed than sent means someone else wrote.
        # sqlite3 sums executemany's rowcount over the parameter sets.
        if not self.postgres:
            if self._execute_many(sql, params) != len(params):
                raise ConcurrencyConflict("a golden record changed under this batch")
            return
        sql = sql.replace("?", "%s")
        if self.conn.dialect.supports_sane_multi_rowcount:
            if self.conn.exec_driver_sql(sql, params).rowcount != len(params):
                raise ConcurrencyConflict("a golden record changed under this batch")
            return
        for row in params:
            if self.conn.exec_driver_sql(sql, row).rowcount != 1:
                raise ConcurrencyConflict(f"golden record {row[4]} changed under this batch")


def _wrapped(conn: Connection, sql: str, params: Any, exc: Exception) -> Exception:
    """The driver's error as SQLAlchemy would have raised it (IntegrityError, OperationalError, ...): callers
    tell a write race (a batch to retry) from a failure by those classes."""
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect)


@cache
def _insert_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns
            if not (c.primary_key and c.autoincrement is True) and not c.info.get("null_at_insert")]


@cache
def _row_values(table: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row dict's values in `_insert_columns` order, as a tuple (itemgetter: C speed, a KeyError for a
    missing column as the named parameters gave one)."""
    columns = _insert_columns(table)
    get = itemgetter(*columns)
    return get if len(columns) > 1 else lambda row: (get(row),)


@cache
def _insert_sql(dialect: str, table: Table) -> str:
    """A plain driver-level INSERT: the hot path skips SQLAlchemy's per-row parameter processing (~40% of the
    write cost in profiles). SQLite's statement takes positional parameters (dict rows pass through
    `_row_values`; the writer's change-log and outbox rows are built as tuples): sqlite3 binds a named
    parameter by building a string and looking it up in the row dict, once per column and row, which cost
    twice as much per row as binding a tuple (docs/decisions/074)."""
    columns = _insert_columns(table)
    marks = [f"%({c})s" for c in columns] if dialect == "postgresql" else ["?"] * len(columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def _insert_ignore(conn: Connection, table: Any) -> Any:
    # First writer of a match key wins; a later identical key is a duplicate for the matcher to judge.
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
