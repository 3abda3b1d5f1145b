"""Reads of the exception tasks of the workflow engine (#5), behind small functions: the console works (showing
no tasks) before the `workflow_tasks` table exists, and reads it in one place when it does."""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, TableClause, column, func, inspect, select, table

TASKS = "workflow_tasks"
OPEN = "open"


def _tasks() -> TableClause:
    return table(TASKS, column("id"), column("tenant"), column("customer_id"), column("process"), column("step"),
                 column("kind"), column("system"), column("message"), column("fields"), column("correctable"),
                 column("correlation_id"), column("status"), column("created_at"))


def _has(conn: Connection, name: str) -> bool:
    return inspect(conn).has_table(name)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "fields": orjson.loads(row["fields"] or "[]"), "correctable": orjson.loads(row["correctable"]
                                                                                               or "[]")}


def open_tasks_of(conn: Connection, canonical_ids: list[str]) -> list[dict[str, Any]]:
    """Open exception tasks about these customers (none until the tasks table of #5 exists)."""
    if not _has(conn, TASKS):
        return []
    tasks = _tasks()
    rows = conn.execute(select(tasks).where(tasks.c.customer_id.in_(canonical_ids), tasks.c.status == OPEN))
    return [_decoded(dict(r._mapping)) for r in rows]


def open_tasks(conn: Connection, tenant: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The exception inbox, oldest first (none until the tasks table of #5 exists)."""
    if not _has(conn, TASKS):
        return []
    tasks = _tasks()
    query = select(tasks).where(tasks.c.status == OPEN).order_by(tasks.c.created_at).limit(limit)
    if tenant:
        query = query.where(tasks.c.tenant == tenant)
    return [_decoded(dict(r._mapping)) for r in conn.execute(query)]


def open_task_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Open tasks per (tenant, kind), for /metrics and the dashboard."""
    if not _has(conn, TASKS):
        return {}
    tasks = _tasks()
    rows = conn.execute(select(tasks.c.tenant, tasks.c.kind, func.count()).where(tasks.c.status == OPEN)
                        .group_by(tasks.c.tenant, tasks.c.kind))
    return {(r[0], r[1]): int(r[2]) for r in rows}


def task_tenant(conn: Connection, task_id: str) -> str | None:
    if not _has(conn, TASKS):
        return None
    tasks = _tasks()
    found = conn.execute(select(tasks.c.tenant).where(tasks.c.id == task_id)).scalar()
    return None if found is None else str(found)


class TaskActionUnavailable(RuntimeError):
    """The decision was refused (unknown or closed task, a field that may not be corrected)."""


class TaskActions(Protocol):
    """What the inbox asks of the workflow engine (#5): record the decision the waiting workflow acts on."""

    def resolve(self, task_id: str, actor: str, corrected: dict[str, Any]) -> None: ...

    def retry(self, task_id: str, actor: str) -> None: ...

    def cancel(self, task_id: str, actor: str, reason: str) -> None: ...
