"""/healthz and /readyz: database, event backend, and every configured system with its probe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.api.app import create_app
from concord.connectors.stripe import StripeConnector
from concord.hubconfig import Runtime
from concord.observability.health import connector_probe
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from tests.connectors.stripe.support import API_KEY, config_for, running_twin
from tests.security.support import bearer, key_for


@pytest.fixture
def client(tmp_path: object, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/c.db", sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        # readiness details are for key holders (an orchestrator's probe without a key gets the status only)
        test_client.headers.update(bearer(key_for(app.state.concord.engine, tenant=ALL_TENANTS, name="probe")))
        yield test_client


def test_liveness_and_readiness_with_every_system_listed(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert {c["name"]: c["status"] for c in body["checks"]} == {"database": "ok", "events": "ok"}
    assert {s["name"] for s in body["systems"]} >= {"salesforce", "tryton", "stripe", "zendesk"}
    assert all(s["status"] == "not_configured" for s in body["systems"])


def stripe(base_url: str, key: str = API_KEY) -> StripeConnector:
    return StripeConnector(config_for(base_url, api_key=SecretStr(key), max_attempts=1))


def test_system_probes_report_credentials_and_reachability_against_the_twin(client: TestClient) -> None:
    probes = client.app.state.ops.probes  # type: ignore[attr-defined]
    with running_twin() as twin:
        probes["stripe"] = connector_probe("stripe", stripe(twin.url), "customer")
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {s["name"]: s["credentials"] for s in ready.json()["systems"]}["stripe"] == "ok"
        probes["stripe"] = connector_probe("stripe", stripe(twin.url, "sk_test_wrong"), "customer")
        refused = client.get("/readyz")
    assert refused.status_code == 503 and refused.json()["status"] == "not_ready"
    systems = {s["name"]: s for s in refused.json()["systems"]}
    assert systems["stripe"]["credentials"] == "refused" and systems["stripe"]["reachable"] is True
    probes["stripe"] = connector_probe("stripe", stripe(twin.url), "customer")  # the twin is stopped now
    gone = {s["name"]: s for s in client.get("/readyz").json()["systems"]}["stripe"]
    assert gone["status"] == "failing" and gone["reachable"] is False
