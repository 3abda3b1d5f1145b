"""Pausing a run on an exception task until a person decides it.

The task row is written by a step (idempotent on workflow, step and attempt), then the run alternates between
reading the row (a step, so a replay sees the same answer) and `recv` on the task's topic, which the
deciding side uses to wake it early. Waiting costs no thread beyond the run's own and survives restarts.
"""

from __future__ import annotations

from concord.tasks import store
from concord.tasks.models import TaskCreate, TaskDecision
from concord.workflows.engine import engine_settings, services
from concord.workflows.journal import recv
from concord.workflows.steps import durable_step


@durable_step("open-task")
def open_task(task: TaskCreate) -> str:
    return store.open_task(services().engine, task)


@durable_step("read-task")
def read_decision(task_id: str) -> TaskDecision | None:
    with services().engine.connect() as conn:
        task = store.get_task(conn, task_id)
    return None if task is None else store.decision_of(task)


def await_decision(task: TaskCreate) -> TaskDecision:
    """Open `task` and block this run (durably) until it is resolved, retried or cancelled."""
    task_id = open_task(task)
    poll_s = engine_settings().task_poll_s
    while True:
        decision = read_decision(task_id)
        if decision is not None:
            return decision
        recv(task_id, poll_s)

