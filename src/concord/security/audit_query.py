"""Reading the audit trail for people: filters for the API, the CLI export and the console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from concord.security import audit
from concord.security.tables import audit_log
from concord.storage.tables import change_log


@dataclass(frozen=True)
class AuditFilter:
    tenant: str | None = None  # None: every tenant (only for an all-tenant key)
    actor: str | None = None
    customer: str | None = None
    system: str | None = None
    action: str | None = None
    before_seq: int | None = None  # paging: entries older than this one
    limit: int = 100


def entries(conn: Connection, f: AuditFilter) -> list[dict[str, Any]]:
    """Newest first. With `customer`, the customer's master data changes (change_log, sealed by the chain) too."""
    a = audit_log.c
    query = select(audit_log).order_by(a.seq.desc()).limit(f.limit)
    for column, value in ((a.tenant, f.tenant), (a.actor, f.actor), (a.customer, f.customer), (a.system, f.system),
                          (a.action, f.action)):
        if value is not None:
            query = query.where(column == value)
    if f.before_seq is not None:
        query = query.where(a.seq < f.before_seq)
    found = [{"source": "audit", **audit.public(dict(r._mapping))} for r in conn.execute(query)]
    if f.customer is not None:
        found.extend(_master_data_changes(conn, f))
        found.sort(key=lambda e: e["at"], reverse=True)
    return found[: f.limit]


def _master_data_changes(conn: Connection, f: AuditFilter) -> list[dict[str, Any]]:
    c = change_log.c
    query = select(change_log).where(c.canonical_id == f.customer).order_by(c.seq.desc()).limit(f.limit)
    for column, value in ((c.tenant, f.tenant), (c.system, f.system or f.actor)):
        if value is not None:
            query = query.where(column == value)
    if f.action not in (None, "change.received"):
        return []
    return [{"source": "change_log", "seq": r.seq, "tenant": r.tenant, "at": r.received_at, "actor": r.system,
             "action": "change.received", "object_type": r.entity, "object_id": r.change_id,
             "customer": r.canonical_id, "system": r.system, "correlation_id": r.correlation_id,
             "before": None, "after": {"fields": orjson.loads(r.payload), "decision": orjson.loads(r.decision)}}
            for r in conn.execute(query)]
