"""Read-side queries for the API, CLI and demo (no writes here)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from concord.canonical.golden import GoldenRecord
from concord.storage import tables as t


def golden_record(conn: Connection, canonical_id: str) -> GoldenRecord | None:
    g = t.golden_records.c
    row = conn.execute(select(g.id, g.tenant, g.entity, g.version, g.data).where(g.id == canonical_id)).first()
    if row is None:
        return None
    return GoldenRecord.from_json(row.tenant, row.entity, row.id, row.version, orjson.loads(row.data))


def bindings_of(conn: Connection, canonical_id: str) -> list[dict[str, Any]]:
    b = t.bindings.c
    rows = conn.execute(select(b.system, b.entity, b.external_id, b.last_sync_at)
                        .where(b.canonical_id == canonical_id).order_by(b.system))
    return [dict(r._mapping) for r in rows]


def canonical_for(conn: Connection, tenant: str, system: str, entity: str, external_id: str) -> str | None:
    b = t.bindings.c
    return conn.execute(select(b.canonical_id).where(b.tenant == tenant, b.system == system, b.entity == entity,
                                                     b.external_id == external_id)).scalar()


def change(conn: Connection, change_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.change_log).where(t.change_log.c.change_id == change_id)).first()
    return None if row is None else dict(row._mapping)


def changes_of(conn: Connection, canonical_id: str, limit: int = 50) -> list[dict[str, Any]]:
    c = t.change_log.c
    rows = conn.execute(select(t.change_log).where(c.canonical_id == canonical_id).order_by(c.seq.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def approvals(conn: Connection, tenant: str | None, status: str | None, limit: int = 100) -> list[dict[str, Any]]:
    a = t.approvals.c
    query = select(t.approvals).order_by(a.created_at).limit(limit)
    if tenant is not None:
        query = query.where(a.tenant == tenant)
    if status is not None:
        query = query.where(a.status == status)
    return [dict(r._mapping) for r in conn.execute(query)]


def approval(conn: Connection, approval_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(t.approvals).where(t.approvals.c.id == approval_id)).first()
    return None if row is None else dict(row._mapping)


def outbox(conn: Connection, kind: str | None = None, target: str | None = None, canonical_id: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    o = t.outbox.c
    query = select(t.outbox).order_by(o.seq).limit(limit)
    for column, value in ((o.kind, kind), (o.target, target), (o.canonical_id, canonical_id)):
        if value is not None:
            query = query.where(column == value)
    return [dict(r._mapping) for r in conn.execute(query)]


def counts(conn: Connection) -> dict[str, Any]:
    """Headline figures: records per entity, changes per status, outbox per kind/target, approvals per status."""
    g, c, o, a = t.golden_records.c, t.change_log.c, t.outbox.c, t.approvals.c
    return {
        "golden": dict(conn.execute(select(g.entity, func.count()).group_by(g.entity)).all()),
        "changes": dict(conn.execute(select(c.status, func.count()).group_by(c.status)).all()),
        "rejected_fields": conn.execute(select(func.coalesce(func.sum(c.rejected), 0))).scalar(),
        "outbox_commands": dict(conn.execute(select(o.target, func.count()).where(o.kind == "command")
                                             .group_by(o.target)).all()),
        "outbox_events": dict(conn.execute(select(o.type, func.count()).where(o.kind == "event")
                                           .group_by(o.type)).all()),
        "approvals": dict(conn.execute(select(a.status, func.count()).group_by(a.status)).all()),
    }
