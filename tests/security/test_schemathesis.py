"""Property-based calls to every operation of the OpenAPI schema (schemathesis, a bounded number of examples):
no answer is a server error, and every error is problem+json. Runs with an all-tenant admin key, so requests
get past authentication into the handlers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from concord.api.app import create_app
from concord.hubconfig import load_runtime
from concord.security.scopes import ALL_TENANTS, ROLES
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.services import standard_services
from tests.security.support import bearer, key_for


def _schema() -> Any:
    """The schema of the real app (reading it needs no database; the calls go to the fixture's app)."""
    app = create_app(Settings(database_url="sqlite:///:memory:"), load_runtime(None))
    return schemathesis.openapi.from_dict(app.openapi())


schema = _schema()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db: Path = tmp_path_factory.mktemp("fuzz") / "concord.db"
    url = f"sqlite:///{db}"
    runtime = load_runtime(None)
    # A real workflow engine, as `concord workflows worker --serve` runs: the process routes answer for real.
    # It has no connectors: a run that got past validation would stop at its first system call, in a task.
    store = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(store)
    workflows = WorkflowEngine(WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL"),
                               standard_services(store, runtime, {}, None))
    app = create_app(Settings(database_url=url, sqlite_synchronous="NORMAL"), runtime, workflows)
    with workflows, TestClient(app, raise_server_exceptions=False) as client:  # a 500 shows as a 500
        token = key_for(app.state.concord.engine, tenant=ALL_TENANTS, scopes=ROLES["admin"], name="fuzz")
        yield client, bearer(token)
    store.dispose()


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    return client.request(kwargs["method"], kwargs["url"], headers=kwargs.get("headers"),
                          params=kwargs.get("params"), **body)


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_errors_are_problem_json(case: Any, served: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = served
    response = _send(client, case, headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
