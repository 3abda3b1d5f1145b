"""The inbox's task decisions, through the workflow engine's task store (#5): the decision is recorded on the
task row (compare-and-set) and the waiting run is woken; a run re-reads its row on its own anyway, so a lost
wake-up only delays it."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sqlalchemy import Engine

from concord.console.sources import TaskActionUnavailable
from concord.tasks import store
from concord.tasks.models import TaskAction

log = logging.getLogger(__name__)


class Waker(Protocol):
    def wake(self, workflow_id: str, task_id: str) -> None: ...


class StoreTaskActions:
    def __init__(self, engine: Engine, waker: Waker | None) -> None:
        self.engine = engine
        self.waker = waker

    def resolve(self, task_id: str, actor: str, corrected: dict[str, Any]) -> None:
        self._decide(task_id, TaskAction.RESOLVE, actor, corrected)

    def retry(self, task_id: str, actor: str) -> None:
        self._decide(task_id, TaskAction.RETRY, actor, None)

    def cancel(self, task_id: str, actor: str, reason: str) -> None:
        self._decide(task_id, TaskAction.CANCEL, actor, None)

    def _decide(self, task_id: str, action: TaskAction, actor: str, corrections: dict[str, Any] | None) -> None:
        try:
            task = store.decide(self.engine, task_id, action, actor, corrections)
        except (store.TaskNotFound, store.TaskClosed, store.NotCorrectable) as exc:
            raise TaskActionUnavailable(str(exc)) from exc
        if self.waker is not None:
            try:
                self.waker.wake(task.workflow_id, task.id)
            except Exception:  # the run polls its task row; the wake-up only saves the wait
                log.warning("could not wake run %s", task.workflow_id, exc_info=True)
