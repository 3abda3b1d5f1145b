"""Batch-oriented SQL for the ingest path: few statements per group commit, whatever its size."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from concord.canonical.golden import GoldenRecord
from concord.storage import tables as t

ExternalKey = tuple[str, str, str, str]  # tenant, system, entity, external id
_CHUNK = 400  # bound parameters per IN list stay far below SQLite's limit


class ConcurrencyConflict(RuntimeError):
    """Another writer changed a golden record since this batch read it; the batch is retried."""


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


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
    changes: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)


class IngestRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replays(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        # Grouped by tenant so each lookup is `tenant = ? AND key IN (...)`: SQLite turns a row-value IN
        # list into a full index scan, which cost milliseconds per batch.
        c = t.change_log.c
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for tenant, idem_keys in _group(keys).items():
            for chunk in _chunks(idem_keys):
                rows = self.conn.execute(select(c.idempotency_key, c.decision).where(
                    c.tenant == tenant, c.idempotency_key.in_(chunk)))
                for key, decision in rows:
                    found[(tenant, key)] = orjson.loads(decision)
        return found

    def bindings_by_external(self, keys: list[ExternalKey]) -> dict[ExternalKey, str]:
        b = t.bindings.c
        found: dict[ExternalKey, str] = {}
        for (tenant, system, entity), external_ids in _group([((k[0], k[1], k[2]), k[3]) for k in keys]).items():
            for chunk in _chunks(external_ids):
                rows = self.conn.execute(select(b.external_id, b.canonical_id).where(
                    b.tenant == tenant, b.system == system, b.entity == entity, b.external_id.in_(chunk)))
                for external_id, canonical_id in rows:
                    found[(tenant, system, entity, external_id)] = canonical_id
        return found

    def bindings_by_canonical(self, ids: list[str]) -> dict[str, dict[str, str]]:
        b = t.bindings.c
        found: dict[str, dict[str, str]] = {}
        for chunk in _chunks(ids):
            for cid, system, external_id in self.conn.execute(
                    select(b.canonical_id, b.system, b.external_id).where(b.canonical_id.in_(chunk))):
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
        g = t.golden_records.c
        found: dict[str, GoldenRecord] = {}
        for chunk in _chunks(ids):
            rows = self.conn.execute(select(g.id, g.tenant, g.entity, g.version, g.data).where(g.id.in_(chunk)))
            for rid, tenant, entity, version, data in rows:
                found[rid] = GoldenRecord.from_json(tenant, entity, rid, version, orjson.loads(data))
        return found

    def write(self, batch: BatchWrites) -> None:
        now = time.time()
        self._write_golden(batch, now)
        if batch.bindings:
            self._insert_many(t.bindings, batch.bindings)
        if batch.match_keys:
            self.conn.execute(_insert_ignore(self.conn, t.match_keys), batch.match_keys)
        for table, rows in ((t.change_log, batch.changes), (t.outbox, batch.outbox), (t.approvals, batch.approvals)):
            if rows:
                self._insert_many(table, rows)

    def _insert_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if self.conn.dialect.name != "postgresql":
            self.conn.exec_driver_sql(_insert_sql("sqlite", table), rows)
            return
        # PostgreSQL executes an executemany row by row (~40 µs each, measured); COPY streams the batch
        # in one statement inside the same transaction.
        columns = _insert_columns(table)
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def _write_golden(self, batch: BatchWrites, now: float) -> None:
        if batch.new_records:
            self.conn.execute(insert(t.golden_records), [
                {"id": r.id, "tenant": r.tenant, "entity": r.entity, "version": r.version,
                 "lifecycle_state": r.value("lifecycle_state"), "data": dumps(r.to_json()),
                 "created_at": now, "updated_at": now} for r in batch.new_records])
        if not batch.changed_records:
            return
        g = t.golden_records.c
        stmt = (update(t.golden_records).where(g.id == _bind("rid"), g.version == _bind("old_version"))
                .values(version=_bind("new_version"), data=_bind("new_data"), lifecycle_state=_bind("state"),
                        updated_at=now))
        params = [{"rid": r.id, "old_version": old, "new_version": r.version, "new_data": dumps(r.to_json()),
                   "state": r.value("lifecycle_state")} for r, old in batch.changed_records]
        if self.conn.dialect.supports_sane_multi_rowcount:
            if self.conn.execute(stmt, params).rowcount != len(params):
                raise ConcurrencyConflict("a golden record changed under this batch")
            return
        for row in params:
            if self.conn.execute(stmt, row).rowcount != 1:
                raise ConcurrencyConflict(f"golden record {row['rid']} changed under this batch")


@cache
def _insert_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)]


@cache
def _insert_sql(dialect: str, table: Table) -> str:
    """A plain driver-level INSERT: the hot path skips SQLAlchemy's per-row parameter processing (~40% of the
    write cost in profiles); rows are dicts keyed by column name."""
    columns = _insert_columns(table)
    marks = [f"%({c})s" if dialect == "postgresql" else f":{c}" for c in columns]
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def _bind(name: str) -> Any:
    return bindparam(name)


def _insert_ignore(conn: Connection, table: Any) -> Any:
    # First writer of a match key wins; a later identical key is a duplicate for the matcher to judge.
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
