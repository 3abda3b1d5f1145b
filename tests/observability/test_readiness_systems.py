"""/readyz probes each configured system: reachable with good credentials, down, and refusing the credentials
— against the twins, with the failing checks named, a 503, cached answers and a time limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.api.app import create_app
from concord.connectors.base import AuthError, Connector, DataRejected, RetryableError
from concord.connectors.hubspot import HubSpotConnector
from concord.connectors.runtime.clock import SystemClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.zendesk import ZendeskConnector
from concord.hubconfig import Runtime
from concord.observability.health import CachedProbe, Check, connector_probe
from concord.sandbox.common import free_port
from concord.sandbox.salesforce.testing import running_twin as salesforce_twin
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from tests.connectors.hubspot.support import config_for as hubspot_config
from tests.connectors.salesforce.support import connector_for as salesforce
from tests.connectors.stripe.support import API_KEY
from tests.connectors.stripe.support import config_for as stripe_config
from tests.connectors.stripe.support import running_twin as stripe_twin
from tests.connectors.zendesk.support import running_twin as zendesk_twin
from tests.connectors.zendesk.support import token_config
from tests.security.support import bearer, key_for

ONCE = RetryPolicy(max_attempts=1)


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/c.db", sqlite_synchronous="NORMAL", **overrides)  # type: ignore[arg-type]


def operator(app: Any) -> dict[str, str]:
    return bearer(key_for(app.state.concord.engine, tenant=ALL_TENANTS, name="ops"))


@pytest.fixture
def three_systems() -> Iterator[dict[str, Connector]]:
    from concord.connectors.stripe import StripeConnector

    with stripe_twin() as stripe, zendesk_twin() as zendesk:
        yield {
            "stripe": StripeConnector(stripe_config(stripe.url, retry=ONCE)),
            "zendesk": ZendeskConnector(token_config(zendesk.url, api_token=SecretStr("wrong-token"), retry=ONCE)),
            "hubspot": HubSpotConnector(hubspot_config(f"http://127.0.0.1:{free_port()}", retry=ONCE)),
        }


def test_readyz_names_the_down_system_and_the_refused_credential(tmp_path: Path, runtime: Runtime,
                                                                  three_systems: dict[str, Connector]) -> None:
    app = create_app(settings(tmp_path), runtime, connectors=three_systems)
    with TestClient(app) as client:
        public = client.get("/readyz")  # an orchestrator's probe: no key
        ready = client.get("/readyz", headers=operator(app))
    assert public.status_code == 503
    assert public.json() == {"status": "not_ready", "failing": ["hubspot", "zendesk"]}
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert sorted(body["failing"]) == ["hubspot", "zendesk"]
    systems = {s["name"]: s for s in body["systems"]}
    assert systems["stripe"]["status"] == "ok" and systems["stripe"]["credentials"] == "ok"
    assert systems["stripe"]["reachable"] is True and systems["stripe"]["latency_ms"] is not None
    assert systems["zendesk"]["reachable"] is True and systems["zendesk"]["credentials"] == "refused"
    assert systems["hubspot"]["reachable"] is False and systems["hubspot"]["status"] == "failing"
    assert systems["tryton"]["status"] == "not_configured"  # configured in the hub, no connector here


def test_readyz_is_ready_when_every_probed_system_answers(tmp_path: Path, runtime: Runtime,
                                                          three_systems: dict[str, Connector]) -> None:
    with salesforce_twin() as crm:  # OAuth login first, then the probe read answers "not found"
        connectors = {"stripe": three_systems["stripe"], "salesforce": salesforce(crm.base_url, clock=SystemClock())}
        app = create_app(settings(tmp_path), runtime, connectors=connectors)
        with TestClient(app) as client:
            ready = client.get("/readyz", headers=operator(app))
    assert ready.status_code == 200, ready.text
    assert ready.json()["failing"] == []
    assert {s["name"]: s["credentials"] for s in ready.json()["systems"]}["salesforce"] == "ok"


def test_a_probe_is_cached_for_its_ttl_and_cut_off_after_its_timeout() -> None:
    calls: list[float] = []
    now, delay = [100.0], [0.5]

    def slow() -> Check:
        calls.append(now[0])
        time.sleep(delay[0])
        return Check("slow", "ok")

    probe = CachedProbe("slow", slow, ttl_s=10, timeout_s=0.05, clock=lambda: now[0])
    first = probe()
    assert first.status == "failing" and "no answer within 0.05s" in first.detail
    assert probe() is first  # within the TTL: no second call
    time.sleep(0.6)
    delay[0], now[0] = 0.0, now[0] + 11
    assert probe().status == "ok"  # the TTL ran out; the system answers in time again
    assert len(calls) == 2


def test_serve_reads_the_connections_file_from_the_setting(tmp_path: Path, runtime: Runtime) -> None:
    with stripe_twin() as twin:
        systems = tmp_path / "systems.yaml"
        systems.write_text(f"stripe:\n  base_url: {twin.url}\n  api_key: {API_KEY}\n  credential_id: acct-main\n")
        app = create_app(settings(tmp_path, connections=systems), runtime)
        with TestClient(app) as client:
            body = client.get("/readyz", headers=operator(app)).json()
            watched = app.state.ops.metrics.headroom.watched()
    assert {s["name"]: s["status"] for s in body["systems"]}["stripe"] == "ok"
    assert sorted(w.key.credential for w in watched) == ["acct-main:read", "acct-main:write"]


class Answering:
    """A connector whose probe read raises what a system answered (or returns nothing)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def read(self, obj: str, record_id: str) -> None:
        if self.error is not None:
            raise self.error


def test_a_refused_id_counts_as_an_authenticated_answer_and_a_refused_key_does_not() -> None:
    def probe(error: Exception | None) -> Check:
        return connector_probe("crm", Answering(error), "Account")()  # type: ignore[arg-type]

    assert probe(None).credentials == "ok"
    assert probe(DataRejected("crm", "MALFORMED_ID: id value of incorrect type")).status == "ok"
    refused = probe(AuthError("crm", "INVALID_SESSION_ID"))
    assert (refused.status, refused.credentials, refused.reachable) == ("failing", "refused", True)
    down = probe(RetryableError("crm", "connection refused"))
    assert (down.status, down.reachable) == ("failing", False)


def test_readyz_probes_every_regional_endpoint_of_the_connections_file(tmp_path: Path, runtime: Runtime) -> None:
    """A regional endpoint (decision 072) is a dependency like the default one: probed as `<system>@<region>`,
    and a dead one fails readiness by that name."""
    with stripe_twin() as us, stripe_twin() as eu:
        once = {"max_attempts": 1}
        systems = tmp_path / "systems.yaml"
        dead = f"http://127.0.0.1:{free_port()}"
        systems.write_text(yaml.safe_dump({"systems": {"stripe": {
            "connector": "stripe", "region": "us", "config": {"base_url": us.url, "api_key": API_KEY, "retry": once},
            "endpoints": [{"region": "eu", "config": {"base_url": eu.url, "api_key": API_KEY, "retry": once}},
                          {"region": "ap", "config": {"base_url": dead, "api_key": API_KEY, "retry": once}}]}}}))
        app = create_app(settings(tmp_path, connections=systems), runtime)
        with TestClient(app) as client:
            ready = client.get("/readyz", headers=operator(app))
    body = ready.json()
    status = {s["name"]: s["status"] for s in body["systems"]}
    assert (status["stripe"], status["stripe@eu"], status["stripe@ap"]) == ("ok", "ok", "failing"), body
    assert ready.status_code == 503 and body["failing"] == ["stripe@ap"]
