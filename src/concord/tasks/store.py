"""Reading and deciding exception tasks. The row is the truth: a decision is committed here first, and the
waiting workflow is only *woken* afterwards (it also re-reads the row on its own), so a lost wake-up delays a
run but never loses a decision."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, or_, select, update

from concord.tasks.models import TaskAction, TaskCreate, TaskDecision, TaskPublic, TaskStatus
from concord.tasks.tables import workflow_tasks

_ACTION_STATUS = {TaskAction.RESOLVE: TaskStatus.RESOLVED, TaskAction.RETRY: TaskStatus.RETRIED,
                  TaskAction.CANCEL: TaskStatus.CANCELLED}


class TaskNotFound(LookupError):
    pass


class TaskClosed(ValueError):
    """The task was decided already; a task is decided once."""


class NotCorrectable(ValueError):
    def __init__(self, field: str, allowed: list[str]) -> None:
        super().__init__(f"{field!r} cannot be corrected on this task; correctable: {', '.join(allowed) or 'none'}")
        self.field = field


def task_id_for(workflow_id: str, step: str, attempt: int) -> str:
    return "task-" + hashlib.sha256(f"{workflow_id}|{step}|{attempt}".encode()).hexdigest()[:24]


def _public(row: Any) -> TaskPublic:
    data = dict(row._mapping)
    for name in ("fields", "correctable", "context"):
        data[name] = orjson.loads(data[name])
    data["corrections"] = orjson.loads(data["corrections"]) if data["corrections"] else None
    return TaskPublic.model_validate(data)


def open_task(engine: Engine, task: TaskCreate) -> str:
    """Insert the task unless this (workflow, step, attempt) has one already; its id either way."""
    task_id = task_id_for(task.workflow_id, task.step, task.attempt)
    with engine.begin() as tx:
        if tx.execute(select(workflow_tasks.c.id).where(workflow_tasks.c.id == task_id)).first() is None:
            tx.execute(workflow_tasks.insert().values(
                id=task_id, tenant=task.tenant, customer_id=task.customer_id, workflow_id=task.workflow_id,
                process=task.process, step=task.step, attempt=task.attempt, kind=task.kind.value,
                system=task.system, message=task.message, fields=orjson.dumps(task.fields).decode(),
                correctable=orjson.dumps(task.correctable).decode(),
                context=orjson.dumps(task.context, default=str).decode(), correlation_id=task.correlation_id,
                status=TaskStatus.OPEN.value, created_at=time.time()))
    return task_id


def get_task(conn: Connection, task_id: str) -> TaskPublic | None:
    row = conn.execute(select(workflow_tasks).where(workflow_tasks.c.id == task_id)).first()
    return None if row is None else _public(row)


def list_tasks(conn: Connection, tenant: str | None = None, status: TaskStatus | None = None,
               customer_id: str | None = None, workflow_id: str | None = None, limit: int = 100,
               run: str | None = None) -> list[TaskPublic]:
    """Tasks, oldest first; `run` selects a run's own tasks and its child runs' (`<run>/<child>`)."""
    c = workflow_tasks.c
    query = select(workflow_tasks).order_by(c.created_at).limit(limit)
    if run is not None:
        escaped = run.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(c.workflow_id == run, c.workflow_id.like(f"{escaped}/%", escape="\\")))
    for column, value in ((c.tenant, tenant), (c.status, status), (c.customer_id, customer_id),
                          (c.workflow_id, workflow_id)):
        if value is not None:
            query = query.where(column == value)
    return [_public(r) for r in conn.execute(query)]


def decision_of(task: TaskPublic) -> TaskDecision | None:
    if task.status == TaskStatus.OPEN:
        return None
    action = next(a for a, s in _ACTION_STATUS.items() if s == task.status)
    return TaskDecision(task_id=task.id, action=action, corrections=task.corrections or {},
                        actor=task.decided_by or "unknown")


def decide(engine: Engine, task_id: str, action: TaskAction, actor: str,
           corrections: dict[str, Any] | None = None) -> TaskPublic:
    """Record a decision on an open task (compare-and-set on the status, so two deciders cannot both win)."""
    corrections = corrections or {}
    with engine.begin() as tx:
        task = get_task(tx, task_id)
        if task is None:
            raise TaskNotFound(task_id)
        if task.status != TaskStatus.OPEN:
            raise TaskClosed(f"task {task_id} is {task.status.value} already")
        for name in corrections:
            if name not in task.correctable:
                raise NotCorrectable(name, task.correctable)
        c = workflow_tasks.c
        done = tx.execute(update(workflow_tasks).where(c.id == task_id, c.status == TaskStatus.OPEN.value).values(
            status=_ACTION_STATUS[action].value, corrections=orjson.dumps(corrections).decode(),
            decided_by=actor, decided_at=time.time()))
        if done.rowcount != 1:
            raise TaskClosed(f"task {task_id} was decided concurrently")
        decided = get_task(tx, task_id)
    assert decided is not None
    return decided
