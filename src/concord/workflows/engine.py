"""The one place DBOS's process-global state lives.

DBOS is a singleton: one instance per process, configured, launched and destroyed through class methods, with
workflow functions registered by decorators at import time. Concord keeps all of that here: a `WorkflowEngine` is
built explicitly from `WorkflowSettings` and the `WorkflowServices` the steps use, `launch()` starts DBOS (and
recovers the runs an earlier process left unfinished), `destroy()` stops it. Steps reach their services through
`services()`, which refuses to answer while no engine is launched. See docs/decisions/030.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from dbos import DBOS, DBOSClient, SetWorkflowID, WorkflowHandle, WorkflowStatus
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import event
from sqlalchemy.engine import make_url

from concord.workflows.services import WorkflowServices

R = TypeVar("R")

_lock = threading.Lock()
_active: WorkflowEngine | None = None


class EngineNotRunning(RuntimeError):
    """A step or a start ran while no `WorkflowEngine` is launched in this process."""


class WorkflowSettings(BaseModel):
    """Where DBOS keeps its state. `system_database_url` None: derived from the Concord database URL (a SQLite
    file next to it, or the same PostgreSQL database under the `dbos` schema)."""

    model_config = ConfigDict(frozen=True)

    database_url: str = Field(description="the Concord database URL")
    system_database_url: str | None = None
    app_name: str = "concord"
    executor_id: str = "local"
    sqlite_synchronous: str = Field(default="FULL", pattern=r"^(FULL|NORMAL|EXTRA|OFF)$")
    task_poll_s: float = Field(default=30.0, gt=0, description="how often a waiting run re-reads its task row")

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
    # DBOS talks to PostgreSQL through psycopg itself: give it the plain scheme.
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_engine(url: str, synchronous: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # As DBOS's own SQLite engine (IMMEDIATE transactions serialise writers), plus WAL: DBOS's default
        # rollback journal costs two fsyncs per step.
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    return engine


def dbos_config(settings: WorkflowSettings) -> dict[str, Any]:
    url = settings.system_url()
    config: dict[str, Any] = {"name": settings.app_name, "system_database_url": url, "run_admin_server": False,
                              "executor_id": settings.executor_id, "log_level": "WARNING"}
    if url.startswith("sqlite"):
        config["system_database_engine"] = _sqlite_engine(url, settings.sqlite_synchronous)
    return config


class WorkflowEngine:
    """DBOS for this process: built with settings and services, launched and destroyed explicitly."""

    def __init__(self, settings: WorkflowSettings, services: WorkflowServices) -> None:
        self.settings = settings
        self.services = services
        self._launched = False

    def launch(self) -> WorkflowEngine:
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("a WorkflowEngine is already launched in this process")
            _active = self
        try:
            DBOS(config=dbos_config(self.settings))  # type: ignore[arg-type]
            DBOS.launch()  # recovers the runs this executor left pending
        except BaseException:
            DBOS.destroy()
            with _lock:
                _active = None
            raise
        self._launched = True
        return self

    def destroy(self) -> None:
        global _active
        if not self._launched:
            return
        DBOS.destroy()
        self._launched = False
        with _lock:
            _active = None

    def __enter__(self) -> WorkflowEngine:
        return self.launch()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- running workflows ------------------------------------------------------------------------------
    def start(self, workflow: Callable[[Any], R], workflow_id: str, payload: Any) -> WorkflowHandle[R]:
        """Start `workflow(payload)` under `workflow_id`, the business key: a second start with the same id
        returns the first run (its input wins; the second payload is ignored)."""
        self._require()
        with SetWorkflowID(workflow_id):
            return DBOS.start_workflow(workflow, payload)

    def status(self, workflow_id: str) -> WorkflowStatus | None:
        self._require()
        return DBOS.get_workflow_status(workflow_id)

    def send(self, workflow_id: str, topic: str, message: Any) -> None:
        self._require()
        DBOS.send(workflow_id, message, topic)

    def runs(self, workflow_id_prefix: str) -> list[WorkflowStatus]:
        """Runs whose id starts with the prefix, e.g. every run for one customer's processes and their children."""
        self._require()
        return DBOS.list_workflows(workflow_id_prefix=workflow_id_prefix, load_input=False, load_output=False)

    def wake(self, workflow_id: str, task_id: str) -> None:
        """Nudge a run waiting on `task_id` (it re-reads the task row either way; this only saves the wait)."""
        self.send(workflow_id, task_id, "decided")

    def _require(self) -> None:
        if not self._launched:
            raise EngineNotRunning("the workflow engine is not launched")


def services() -> WorkflowServices:
    """The services of the launched engine, for steps (which DBOS calls without our arguments on recovery)."""
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
    """Wakes waiting runs from a process that must not run workflows (the CLI): a DBOS client only sends."""

    def __init__(self, settings: WorkflowSettings) -> None:
        self._client = DBOSClient(system_database_url=settings.system_url())

    def wake(self, workflow_id: str, task_id: str) -> None:
        self._client.send(workflow_id, "decided", topic=task_id)

    def close(self) -> None:
        self._client.destroy()
