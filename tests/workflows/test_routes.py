"""The process and task routes in a server that runs no workflow engine (an API-only node)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.settings import Settings


@pytest.fixture
def client(tmp_path: Path, runtime: Runtime) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", sqlite_synchronous="NORMAL")
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def test_process_routes_answer_503_and_task_routes_still_serve(client: TestClient) -> None:
    started = client.post("/api/v1/process/onboard-customer", json={"customer_id": "c-1"})
    assert started.status_code == 503 and started.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/tasks").json() == []
    missing = client.post("/api/v1/tasks/task-x/retry", json={"actor": "ann"})
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_openapi_documents_the_process_and_task_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/process/onboard-customer", "/api/v1/process/runs/{workflow_id}", "/api/v1/tasks",
            "/api/v1/tasks/{task_id}/resolve"} <= set(paths)
    body = paths["/api/v1/process/onboard-customer"]["post"]
    assert {"200", "202", "404", "409", "422"} <= set(body["responses"])
