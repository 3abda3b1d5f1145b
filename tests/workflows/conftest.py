"""One Tryton server and one set of twins per test module; a fresh Concord database and engine per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.hubconfig import Runtime
from concord.sandbox.tryton import TrytonServer
from concord.storage.engine import make_engine
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.services import standard_services
from tests.connectors.tryton.support import require_trytond, server_settings
from tests.workflows.support import Systems, concord_database, running_systems


@pytest.fixture(scope="module")
def tryton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    require_trytond()
    with TrytonServer(server_settings(work_dir=tmp_path_factory.mktemp("tryton"))) as server:
        yield server


@pytest.fixture(scope="module")
def systems(tryton: TrytonServer) -> Iterator[Systems]:
    with running_systems(tryton) as running:
        yield running


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return concord_database(tmp_path / "concord.db")


@pytest.fixture
def workflow_settings(database_url: str) -> WorkflowSettings:
    return WorkflowSettings(database_url=database_url, sqlite_synchronous="NORMAL", task_poll_s=1.0)


@pytest.fixture
def engine(systems: Systems, runtime: Runtime, database_url: str,
           workflow_settings: WorkflowSettings) -> Iterator[WorkflowEngine]:
    db = make_engine(database_url, sqlite_synchronous="NORMAL")
    connectors = systems.build().build()
    with WorkflowEngine(workflow_settings, standard_services(db, runtime, connectors, None)) as running:
        yield running
    for connector in connectors.values():
        connector.close()
    db.dispose()
