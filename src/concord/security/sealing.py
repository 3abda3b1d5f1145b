"""Sealing ingest batches into the audit chain without slowing ingest down.

One audit entry per tenant per committed batch holds the change ids and one SHA-256 over the rows' contents;
hashing a 512-change batch costs well under a millisecond, against one extra small insert per commit.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, select

from concord.security import audit
from concord.storage.repository import CHANGE_LOG_COLUMNS
from concord.storage.tables import change_log

SEALED_COLUMNS = ("change_id", "tenant", "system", "entity", "external_id", "canonical_id", "correlation_id",
                  "status", "payload", "decision")


_sealed = itemgetter(*SEALED_COLUMNS)  # of a change_log row as a dict
_sealed_at = itemgetter(*[CHANGE_LOG_COLUMNS.index(c) for c in SEALED_COLUMNS])  # of one the ingest writer built
_CHANGE_ID, _TENANT, _SYSTEM, _CORRELATION_ID = [CHANGE_LOG_COLUMNS.index(c)
                                                  for c in ("change_id", "tenant", "system", "correlation_id")]

# What a seal needs of one change_log row: tenant, change id, correlation id, system, and the sealed values.
_Sealable = tuple[str, str, str, str, tuple[Any, ...]]


def digest(rows: list[dict[str, Any]]) -> str:
    """SHA-256 over each row's sealed columns as a JSON array, row after row."""
    return _digest([_sealed(row) for row in rows])


def _digest(sealed: list[tuple[Any, ...]]) -> str:
    # orjson writes a tuple as the same array a list gives; one update over the joined rows hashes the same
    # bytes as one update per row (how stored seals were made: tests/security/test_audit.py).
    return hashlib.sha256(b"".join([orjson.dumps(values) for values in sealed])).hexdigest()


def seal_batch(conn: Connection, changes: list[tuple[Any, ...]]) -> None:
    """Append the seal of this batch's change_log rows (the ingest writer's tuples), in its own transaction."""
    audit.append_many(conn, seals(changes))


def seal_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """`seal_batch` for change_log rows held as dicts (merges and unmerges write their own)."""
    audit.append_many(conn, _entries([(r["tenant"], r["change_id"], r["correlation_id"], r["system"], _sealed(r))
                                      for r in rows]))


def seals(changes: list[tuple[Any, ...]]) -> list[audit.Entry]:
    """The audit entries sealing these change_log rows (in CHANGE_LOG_COLUMNS order), one per tenant (no database
    work: the pipelined writer computes them while the previous batch's commit still holds the connection)."""
    return _entries([(row[_TENANT], row[_CHANGE_ID], row[_CORRELATION_ID], row[_SYSTEM], _sealed_at(row))
                     for row in changes])


def _entries(rows: list[_Sealable]) -> list[audit.Entry]:
    by_tenant: dict[str, list[_Sealable]] = defaultdict(list)
    for row in rows:
        by_tenant[row[0]].append(row)
    return [audit.Entry(tenant=tenant, actor="ingest", action="ingest.batch", object_type="change_batch",
                        object_id=group[0][1], correlation_id=group[0][2],
                        system=group[0][3] if len({r[3] for r in group}) == 1 else None,
                        after={"changes": [r[1] for r in group], "digest": _digest([r[4] for r in group])})
            for tenant, group in sorted(by_tenant.items())]


def check_seal(conn: Connection, entry: dict[str, Any]) -> list[str]:
    sealed = orjson.loads(entry["after"])
    ids: list[str] = sealed["changes"]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        columns = [change_log.c[c] for c in SEALED_COLUMNS]
        found.update({r.change_id: dict(r._mapping)
                      for r in conn.execute(select(*columns).where(change_log.c.change_id.in_(chunk)))})
    missing = [i for i in ids if i not in found]
    if missing:
        return [f"entry {entry['seq']}: sealed change {missing[0]} is missing from change_log"]
    if digest([found[i] for i in ids]) != sealed["digest"]:
        return [f"entry {entry['seq']}: a change_log row sealed by this batch was altered"]
    return []
