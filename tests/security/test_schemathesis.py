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


OPENAPI = create_app(Settings(database_url="sqlite:///:memory:"), load_runtime(None)).openapi()
OPERATIONS = [(method.upper(), path, op) for path, item in OPENAPI["paths"].items() for method, op in item.items()]


def _hostile(param: dict[str, Any]) -> str | None:
    """The value schemathesis found breaking a route: NUL in a string, an integer beyond 64 bits."""
    schema = param.get("schema", {})
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    if "integer" in kinds:
        return str(2**63)
    return "a\x00b" if "string" in kinds else None


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_nul_bytes_and_huge_integers_are_refused_with_problem_json(
        method: str, path: str, operation: dict[str, Any], served: tuple[TestClient, dict[str, str]]) -> None:
    """Every parameter of every operation, one at a time: NUL in a string or 2**63 in an integer is a 4xx
    problem+json (never a 5xx from the database); the examples above may not happen to draw them."""
    client, headers = served
    params = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
    for target in [*params, {"name": "unknown", "in": "query", "schema": {"type": "string"}}]:
        bad = _hostile(target)
        if bad is None:
            continue
        values = {p["name"]: "x" for p in params if p["in"] == "path"}
        url = path
        query: dict[str, str] = {}
        if target["in"] == "path":
            values[target["name"]] = bad
        else:
            query[target["name"]] = bad
        for name, value in values.items():
            url = url.replace("{" + name + "}", value.replace("\x00", "%00"))
        response = client.request(method, url, params=query, headers=headers, json={})
        assert 400 <= response.status_code < 500, (method, url, query, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
