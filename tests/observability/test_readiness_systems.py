"""/readyz probes each configured system: reachable with good credentials, down, and refusing the credentials
— against the twins, with the failing checks named, a 503, cached answers and a time limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.api.app import create_app
from concord.connectors.base import Connector
from concord.connectors.hubspot import HubSpotConnector
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.zendesk import ZendeskConnector
from concord.hubconfig import Runtime
from concord.observability.health import CachedProbe, Check
from concord.sandbox.common import free_port
from concord.settings import Settings
from tests.connectors.hubspot.support import config_for as hubspot_config
from tests.connectors.stripe.support import API_KEY
from tests.connectors.stripe.support import config_for as stripe_config
from tests.connectors.stripe.support import running_twin as stripe_twin
from tests.connectors.zendesk.support import running_twin as zendesk_twin
from tests.connectors.zendesk.support import token_config

ONCE = RetryPolicy(max_attempts=1)


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/c.db", sqlite_synchronous="NORMAL", **overrides)  # type: ignore[arg-type]


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
        ready = client.get("/readyz")
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
    app = create_app(settings(tmp_path), runtime, connectors={"stripe": three_systems["stripe"]})
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["failing"] == []


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
            body = client.get("/readyz").json()
            watched = app.state.ops.metrics.headroom.watched()
    assert {s["name"]: s["status"] for s in body["systems"]}["stripe"] == "ok"
    assert sorted(w.key.credential for w in watched) == ["acct-main:read", "acct-main:write"]
