"""The audit trail: append-only entries, each hashing its predecessor's hash with its own content.

Changing, inserting or deleting any entry breaks every later link, which `verify` finds. Master data changes
are not written one entry per change (that would double the ingest write volume): each committed ingest batch
appends one `ingest.batch` entry per tenant that seals the digest of its change_log rows, so tampering with a
change_log row is found too (see `concord.security.sealing`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from concord.security.tables import audit_log

GENESIS = "0" * 64
_LOCK_ID = 80080808  # PostgreSQL advisory lock: one appender at a time, so the chain never forks


@dataclass(frozen=True)
class Entry:
    tenant: str
    actor: str
    action: str
    object_type: str
    object_id: str
    customer: str | None = None
    system: str | None = None
    correlation_id: str | None = None
    before: Any = None
    after: Any = None


@dataclass
class Verdict:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The hash of one stored row: its predecessor's hash and every column but seq and hash."""
    content = [row["tenant"], repr(float(row["at"])), row["actor"], row["action"], row["object_type"],
               row["object_id"], row["customer"], row["system"], row["correlation_id"], row["before"], row["after"]]
    return hashlib.sha256(prev_hash.encode() + b"\n" + orjson.dumps(content)).hexdigest()


def _driver(conn: Connection, sql: str, params: list[dict[str, Any]] | None = None) -> Any:
    """Run `sql` on the DBAPI cursor of `conn` (its transaction), with `params` as an executemany; the first
    row fetched for a query. Every ingest batch runs two of these (its seal): even exec_driver_sql's execution
    context and result wrapping cost more than the statements (decision 074). Driver errors are raised as
    SQLAlchemy would have raised them."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if params is None:
            cursor.execute(sql)
            return cursor.fetchone()
        cursor.executemany(sql, params)
        return None
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


def head(conn: Connection) -> str:
    # Plain SQL: every ingest batch asks (its seal), and building the Core statement cost more than the query.
    last = _driver(conn, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    return str(last[0]) if last and last[0] else GENESIS


def append_many(conn: Connection, entries: list[Entry], now: float | None = None) -> str:
    """Append entries in the caller's transaction (they commit or vanish with the change they describe)."""
    if not entries:
        return ""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
    at = time.time() if now is None else now
    prev = head(conn)
    rows = []
    for e in entries:
        row = {"tenant": e.tenant, "at": at, "actor": e.actor, "action": e.action, "object_type": e.object_type,
               "object_id": e.object_id, "customer": e.customer, "system": e.system,
               "correlation_id": e.correlation_id, "before": _json(e.before), "after": _json(e.after)}
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    _driver(conn, _insert_sql(conn.dialect.name), rows)
    return prev


@cache
def _insert_sql(dialect: str) -> str:
    """The driver-level INSERT of an entry (one per ingest batch at least: SQLAlchemy's per-statement work
    cost more than the insert, decision 074); rows are dicts keyed by column name."""
    columns = [c.name for c in audit_log.columns if c.name != "seq"]
    marks = [f"%({c})s" if dialect == "postgresql" else f":{c}" for c in columns]
    quoted = ", ".join(f'"{c}"' for c in columns)  # `at`, `before` and `after` are SQL keywords
    return f"INSERT INTO audit_log ({quoted}) VALUES ({', '.join(marks)})"


def append(conn: Connection, entry: Entry, now: float | None = None) -> str:
    return append_many(conn, [entry], now)


def rows(conn: Connection, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every entry in chain order, read in pages (the log can be large)."""
    last = -1
    while True:
        page = [dict(r._mapping) for r in conn.execute(
            select(audit_log).where(audit_log.c.seq > last).order_by(audit_log.c.seq).limit(batch))]
        yield from page
        if len(page) < batch:
            return
        last = page[-1]["seq"]


def verify(conn: Connection) -> Verdict:
    """Recompute the chain; every broken link and every sealed batch that no longer matches is a problem."""
    from concord.security.sealing import check_seal

    verdict = Verdict(ok=True, checked=0)
    prev = GENESIS
    for row in rows(conn):
        verdict.checked += 1
        if row["prev_hash"] != prev:
            verdict.problems.append(f"entry {row['seq']}: does not follow the previous entry (one was removed or "
                                    "inserted)")
        if entry_hash(row["prev_hash"], row) != row["hash"]:
            verdict.problems.append(f"entry {row['seq']}: content does not match its hash (altered)")
        if row["action"] == "ingest.batch":
            verdict.problems.extend(check_seal(conn, row))
        prev = row["hash"]
    verdict.ok = not verdict.problems
    return verdict


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An entry as the API, the export and the console show it (JSON documents decoded)."""
    # str(): column names come back as sqlalchemy's quoted_name, which orjson refuses as a key
    out = {str(k): v for k, v in row.items() if k not in ("before", "after")}
    out["before"] = None if row["before"] is None else orjson.loads(row["before"])
    out["after"] = None if row["after"] is None else orjson.loads(row["after"])
    return out
