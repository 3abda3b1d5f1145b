"""`concord serve` hosts the workflow runtime when given a connections file: the process API answers for real from
the served app (the engine launched and stopped with the app), and without the file it answers 503."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from concord.api.serving import create_serving_app
from concord.cli.main import build
from concord.hubconfig import Runtime
from concord.settings import Settings
from concord.workflows.engine import EngineNotRunning, services
from concord.workflows.hosting import NoConnections, connections_file
from tests.security.support import bearer, key_for
from tests.workflows.support import Systems, crm_customer


def _run_until_done(client: TestClient, run_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/process/runs/{run_id}").json()
        if run.get("status") in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


@pytest.mark.tryton
def test_served_app_with_connections_runs_processes(systems: Systems, runtime: Runtime, database_url: str,
                                                    tmp_path: Path) -> None:
    customer, sf_id = crm_customer(systems, runtime, database_url, "Served Process Inc", ShippingCountry="US",
                                   ShippingCity="Austin", ShippingPostalCode="73301")
    settings = Settings(database_url=database_url, sqlite_synchronous="NORMAL",
                        connections=systems.write_connections(tmp_path / "connections.yaml"))
    app = create_serving_app(settings, runtime)
    with TestClient(app) as client:
        client.headers.update(bearer(key_for(app.state.concord.engine)))
        assert app.state.workflows is not None and services().connectors.keys() == systems.build().build().keys()
        started = client.post("/api/v1/process/onboard-customer",
                              json={"customer_id": customer, "admin_email": "it@served.example"})
        assert started.status_code == 202, started.text
        run = _run_until_done(client, started.json()["workflow_id"])
        assert run["status"] == "completed", run
        assert run["result"]["systems"]["salesforce"]["account"] == sf_id
    with pytest.raises(EngineNotRunning):  # the engine stopped with the app
        services()


def test_served_app_without_connections_answers_503(database_url: str, runtime: Runtime) -> None:
    app = create_serving_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as client:
        client.headers.update(bearer(key_for(app.state.concord.engine)))
        answer = client.post("/api/v1/process/onboard-customer", json={"customer_id": "x"})
    assert answer.status_code == 503 and "CONCORD_CONNECTIONS" in answer.json()["detail"]


def test_a_missing_connections_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoConnections, match="CONCORD_CONNECTIONS"):
        connections_file(Settings(), None)
    monkeypatch.setenv("CONCORD_CONNECTIONS", str(tmp_path / "nope.yaml"))
    assert Settings().connections == tmp_path / "nope.yaml"  # the setting's name, as documented
    with pytest.raises(NoConnections, match=r"nope\.yaml"):
        connections_file(Settings())
    bad = tmp_path / "bad.yaml"
    bad.write_text("tryton: {url: 1}\nsalesfarce: {}\n", encoding="utf-8")
    with pytest.raises(NoConnections, match="salesfarce"):
        connections_file(Settings(), bad)
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    result = CliRunner().invoke(build(), ["serve", "--connections", str(tmp_path / "missing.yaml")])
    assert result.exit_code != 0 and "--connections" in result.output, result.output
