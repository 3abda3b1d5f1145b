"""The one place the workflow runtime's process-global state lives.

The runtime is Concord's own durable journal (`concord.workflows.journal`, decision 081; it replaced DBOS,
decision 030). Like DBOS it is one executor per process, with workflow functions registered by decorators at
import time. A `WorkflowEngine` is built explicitly from `WorkflowSettings` and the `WorkflowServices` the
steps use; `launch()` opens the journal and resumes the runs an earlier process left unfinished, `destroy()`
stops it. Steps reach their services through `services()`, which refuses to answer while no engine is launched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url

from concord.workflows.journal import (
    EngineStopped,
    JournalClient,
    JournalUnavailable,
    RunHandle,
    RunStatus,
    StepRecord,
    Workflow,
)
from concord.workflows.journal import ops as journal_ops
from concord.workflows.journal.db import open_db
from concord.workflows.journal.runtime import Executor
from concord.workflows.journal.store import JournalStore
from concord.workflows.services import WorkflowServices

R = TypeVar("R")
log = logging.getLogger(__name__)

_lock = threading.Lock()
_active: WorkflowEngine | None = None


class EngineNotRunning(RuntimeError):
    """A step or a start ran while no `WorkflowEngine` is launched in this process."""


class WorkflowSettings(BaseModel):
    """Where the journal lives. `system_database_url` None: derived from the Concord database URL (a SQLite
    file next to it, or the same PostgreSQL database under the `concord_workflows` schema)."""

    model_config = ConfigDict(frozen=True)

    database_url: str = Field(description="the Concord database URL")
    system_database_url: str | None = None
    app_name: str = "concord"
    executor_id: str = "local"
    sqlite_synchronous: str = Field(default="FULL", pattern=r"^(FULL|NORMAL|EXTRA|OFF)$")
    task_poll_s: float = Field(default=30.0, gt=0, description="how often a waiting run re-reads its task row")
    message_poll_s: float = Field(default=1.0, gt=0, description="how often a waiting run looks for messages "
                                  "sent from another process (the CLI); local sends wake it at once")
    max_recovery_attempts: int = Field(default=100, ge=1, description="a run resumed this many times without "
                                       "finishing is given up (MAX_RECOVERY_ATTEMPTS_EXCEEDED)")
    heartbeat_s: float = Field(default=2.0, gt=0, description="how often this process renews its liveness and "
                               "looks for runs of dead processes to take over")
    executor_ttl_s: float = Field(default=10.0, gt=0, description="a process whose heartbeat is older is dead: "
                                  "its unfinished runs are taken over (a dead process on the same host at once)")

    def system_url(self) -> str:
        if self.system_database_url:
            return self.system_database_url
        return system_url_for(self.database_url)


def system_url_for(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        name = url.database or "concord.db"
        if name == ":memory:":
            raise ValueError("workflows need a file database: set CONCORD_DATABASE_URL to a sqlite file")
        path = Path(name)
        return f"sqlite:///{path.with_name(path.stem + '-workflows.sqlite')}"
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class WorkflowEngine:
    """The journal's executor for this process: built with settings and services, launched and destroyed
    explicitly."""

    def __init__(self, settings: WorkflowSettings, services: WorkflowServices) -> None:
        self.settings = settings
        self.services = services
        self._executor: Executor | None = None

    def launch(self) -> WorkflowEngine:
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("a WorkflowEngine is already launched in this process")
            _active = self
        s = self.settings
        try:
            store = JournalStore(open_db(s.system_url(), s.sqlite_synchronous))
            executor = Executor(store, s.executor_id, s.message_poll_s, s.max_recovery_attempts, s.heartbeat_s,
                                s.executor_ttl_s)
            journal_ops.activate(executor)
            self._executor = executor
            executor.launch()  # resumes the runs this executor left pending
            if legacy := store.legacy_pending():
                log.warning("%d workflow runs were left pending by DBOS, the engine before decision 081; they are "
                            "not resumed: finish them with the Concord version that started them, or start their "
                            "processes again (docs/decisions/081)", legacy)
        except BaseException:
            self._teardown()
            raise
        return self

    def destroy(self) -> None:
        if self._executor is not None:
            self._teardown()

    def _teardown(self) -> None:
        global _active
        executor, self._executor = self._executor, None
        try:
            if executor is not None:
                executor.stop()
                executor.store.db.close()
        finally:
            if journal_ops.active() is executor:
                journal_ops.activate(None)
            with _lock:
                _active = None

    def __enter__(self) -> WorkflowEngine:
        return self.launch()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- running workflows ------------------------------------------------------------------------------
    def start(self, workflow: Workflow[Any, R], workflow_id: str, payload: Any) -> RunHandle[R]:
        """Start `workflow(payload)` under `workflow_id`, the business key: a second start with the same id
        returns the first run (its input wins; the second payload is ignored)."""
        self._require()
        with _engine_errors():
            return journal_ops.start_workflow(workflow, payload, workflow_id)

    def status(self, workflow_id: str) -> RunStatus | None:
        self._require()
        with _engine_errors():
            return journal_ops.run_status(workflow_id)

    def steps(self, workflow_id: str) -> list[StepRecord]:
        """The run's journal: each recorded step, send and receive, oldest first."""
        self._require()
        with _engine_errors():
            return journal_ops.steps_of(workflow_id)

    def send(self, workflow_id: str, topic: str, message: Any) -> None:
        self._require()
        with _engine_errors():
            journal_ops.send(workflow_id, topic, message)

    def runs(self, workflow_id_prefix: str) -> list[RunStatus]:
        """Runs whose id starts with the prefix, e.g. every run for one customer's processes and their children."""
        self._require()
        with _engine_errors():
            return journal_ops.list_runs(prefixes=workflow_id_prefix)

    def wake(self, workflow_id: str, task_id: str) -> None:
        """Nudge a run waiting on `task_id` (it re-reads the task row either way; this only saves the wait)."""
        self.send(workflow_id, task_id, "decided")

    def _require(self) -> None:
        if self._executor is None:
            raise EngineNotRunning("the workflow engine is not launched")


@contextmanager
def _engine_errors() -> Iterator[None]:
    """Outside a run, a closed journal (the engine stopping) is an ordinary error for callers such as API
    handlers and the signal starter, not the BaseException that stops a run."""
    try:
        yield
    except (JournalUnavailable, EngineStopped) as exc:
        raise EngineNotRunning(f"the workflow engine is stopping: {exc}") from None


def services() -> WorkflowServices:
    """The services of the launched engine, for steps (which a resumed run calls without our arguments)."""
    engine = _active
    if engine is None:
        raise EngineNotRunning("no WorkflowEngine is launched in this process")
    return engine.services


def engine_settings() -> WorkflowSettings:
    engine = _active
    if engine is None:
        raise EngineNotRunning("no WorkflowEngine is launched in this process")
    return engine.settings


class ClientWaker:
    """Wakes waiting runs from a process that must not run workflows (the CLI): a journal client only sends."""

    def __init__(self, settings: WorkflowSettings) -> None:
        self._client = JournalClient(settings.system_url(), settings.sqlite_synchronous)

    def wake(self, workflow_id: str, task_id: str) -> None:
        self._client.send(workflow_id, task_id, "decided")

    def close(self) -> None:
        self._client.close()
