"""Reads of tables other issues own — exception tasks (#5) and the audit log (#8) — behind small functions
so the console works (showing nothing) before those tables exist and adapts in one place when they land."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, column, inspect, select, table

from concord.storage import tables as t


def _has(conn: Connection, name: str) -> bool:
    return inspect(conn).has_table(name)


def open_tasks_of(conn: Connection, canonical_ids: list[str]) -> list[dict[str, Any]]:
    """Open exception tasks about these records (empty until the tasks table of #5 exists)."""
    if not _has(conn, "tasks"):
        return []
    tasks = table("tasks", column("id"), column("kind"), column("title"), column("status"), column("canonical_id"))
    rows = conn.execute(select(tasks).where(tasks.c.canonical_id.in_(canonical_ids), tasks.c.status == "open"))
    return [dict(r._mapping) for r in rows]


def open_tasks(conn: Connection, tenant: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The exception inbox's tasks (empty until the tasks table of #5 exists)."""
    if not _has(conn, "tasks"):
        return []
    tasks = table("tasks", column("id"), column("tenant"), column("kind"), column("title"), column("status"),
                  column("canonical_id"), column("created_at"))
    query = select(tasks).where(tasks.c.status == "open").order_by(tasks.c.created_at).limit(limit)
    if tenant:
        query = query.where(tasks.c.tenant == tenant)
    return [dict(r._mapping) for r in conn.execute(query)]


class TaskActionUnavailable(RuntimeError):
    """Raised until the workflow engine (#5) provides task actions to the console."""


class TaskActions(Protocol):
    """What the inbox asks of the workflow engine (#5): each call completes or re-drives the waiting step."""

    def resolve(self, task_id: str, actor: str, corrected: dict[str, Any]) -> None: ...

    def retry(self, task_id: str, actor: str) -> None: ...

    def cancel(self, task_id: str, actor: str, reason: str) -> None: ...


class NoTaskActions:
    def resolve(self, task_id: str, actor: str, corrected: dict[str, Any]) -> None:
        raise TaskActionUnavailable("exception tasks arrive with the workflow engine (issue #5)")

    def retry(self, task_id: str, actor: str) -> None:
        raise TaskActionUnavailable("exception tasks arrive with the workflow engine (issue #5)")

    def cancel(self, task_id: str, actor: str, reason: str) -> None:
        raise TaskActionUnavailable("exception tasks arrive with the workflow engine (issue #5)")


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    customer: str | None
    system: str | None
    detail: str
    source: str  # audit_log (#8) | change_log | approvals


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    customer: str | None = None
    system: str | None = None
    limit: int = 100


def audit_entries(conn: Connection, f: AuditFilter) -> list[AuditEntry]:
    """The audit trail: the hash-chained audit log of #8 when its table exists; until then the durable
    decision records Concord already keeps — every change (its actor is the writing system) and every steward
    decision."""
    if _has(conn, "audit_log"):
        return _from_audit_log(conn, f)
    entries = _from_changes(conn, f) + _from_approvals(conn, f)
    return sorted(entries, key=lambda e: e.at, reverse=True)[:f.limit]


def _from_audit_log(conn: Connection, f: AuditFilter) -> list[AuditEntry]:
    log = table("audit_log", column("at"), column("actor"), column("action"), column("customer"),
                column("system"), column("detail"))
    query = select(log).order_by(log.c.at.desc()).limit(f.limit)
    for col, value in ((log.c.actor, f.actor), (log.c.customer, f.customer), (log.c.system, f.system)):
        if value:
            query = query.where(col == value)
    return [AuditEntry(float(r.at), r.actor, r.action, r.customer, r.system, str(r.detail or ""), "audit_log")
            for r in conn.execute(query)]


def _from_changes(conn: Connection, f: AuditFilter) -> list[AuditEntry]:
    if f.actor and f.system and f.actor != f.system:
        return []
    c = t.change_log.c
    query = (select(c.received_at, c.system, c.entity, c.canonical_id, c.status, c.change_id, c.mapping_version)
             .order_by(c.seq.desc()).limit(f.limit))
    if f.customer:
        query = query.where(c.canonical_id == f.customer)
    if f.actor or f.system:
        query = query.where(c.system == (f.system or f.actor))
    return [AuditEntry(r.received_at, r.system, f"change {r.status}", r.canonical_id, r.system,
                       f"{r.entity} change {r.change_id}" + (f" (mapping {r.mapping_version})"
                                                             if r.mapping_version else ""), "change_log")
            for r in conn.execute(query)]


def _from_approvals(conn: Connection, f: AuditFilter) -> list[AuditEntry]:
    a = t.approvals.c
    query = (select(a.decided_at, a.decided_by, a.status, a.canonical_id, a.system, a.field, a.reason)
             .where(a.decided_at.is_not(None)).order_by(a.decided_at.desc()).limit(f.limit))
    for col, value in ((a.decided_by, f.actor), (a.canonical_id, f.customer), (a.system, f.system)):
        if value:
            query = query.where(col == value)
    return [AuditEntry(r.decided_at, r.decided_by, f"approval {r.status}", r.canonical_id, r.system,
                       f"{r.field}" + (f": {r.reason}" if r.reason else ""), "approvals") for r in conn.execute(query)]
