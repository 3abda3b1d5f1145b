"""Reads of tables another issue owns — exception tasks (#5) — behind small functions, so the console works
(showing nothing) before those tables exist and adapts in one place when they land."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection, column, inspect, select, table


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
