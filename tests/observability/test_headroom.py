"""Rate-limit headroom and daily quota per (tenant, system, credential): reported by connectors, exported to
Prometheus, sampled into the series store and charted on the dashboard with the tenant and system filters."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine

from concord.api.app import create_app
from concord.connectors.base import RateLimit
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.governed import GovernedKey, RateGoverned, governed_keys
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.stripe import StripeConnector
from concord.connectors.tryton import TrytonConfig, TrytonConnector
from concord.connectors.zendesk import ZendeskConnector
from concord.hubconfig import Runtime
from concord.observability import tables as ot
from concord.observability.headroom import HEADROOM, QUOTA_LEFT, HeadroomSampler, headroom_series, sample_headroom
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from tests.connectors.hubspot.support import connector_for as hubspot
from tests.connectors.salesforce.support import connector_for as salesforce
from tests.connectors.stripe.support import config_for as stripe_config
from tests.connectors.stripe.support import running_twin
from tests.connectors.zendesk.support import token_config
from tests.security.support import bearer, key_for

T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600  # a whole hour, so minutes and slots line up


def test_every_governed_connector_reports_its_keys() -> None:
    stripe = StripeConnector(stripe_config("http://127.0.0.1:9", credential_id="acct"))
    zendesk = ZendeskConnector(token_config("http://127.0.0.1:9", tenant="t1"))
    tryton = TrytonConnector(TrytonConfig(url="http://127.0.0.1:9", database="d", user="u",
                                          password=SecretStr("p"), company_id=1))
    connectors = [stripe, zendesk, hubspot("http://127.0.0.1:9"), salesforce("http://127.0.0.1:9"), tryton]
    keys = {(g.key.tenant, g.key.system, g.key.credential) for g in governed_keys(connectors)}
    assert {("default", "stripe", "acct:read"), ("default", "stripe", "acct:write")} <= keys
    assert {k[1] for k in keys} >= {"stripe", "zendesk", "hubspot", "salesforce"}
    assert {k[0] for k in keys if k[1].startswith("zendesk")} == {"t1"}
    assert len([k for k in keys if k[1].startswith("zendesk")]) == 2  # its incremental-export bucket too
    assert not isinstance(tryton, RateGoverned)  # no governor: reports nothing rather than a fake bucket


def governed(tenant: str, system: str, clock: ManualClock) -> GovernedKey:
    governor = RateGovernor({system: RateLimit(requests=100, per_seconds=100, daily_quota=1000)}, clock=clock)
    return GovernedKey(governor, RateKey(tenant, system, "cred-1"))


def test_samples_become_series_with_filters_and_the_lowest_value_per_step(engine: Engine) -> None:
    clock = ManualClock(T0)
    a, b = governed("acme", "stripe", clock), governed("globex", "zendesk", clock)
    spent = {0: 10, 60: 30, 120: 5}
    for offset, calls in spent.items():
        clock.advance(T0 + offset - clock.time())
        for _ in range(calls):
            a.governor.acquire(a.key)
        with engine.begin() as conn:
            sample_headroom(conn, [a, b], now=T0 + offset)
    with engine.connect() as conn:
        quota = headroom_series(conn, QUOTA_LEFT, T0, step=60)
        per_3min = headroom_series(conn, QUOTA_LEFT, T0, step=180)
        hourly = headroom_series(conn, QUOTA_LEFT, T0, step=3600)  # read from the hourly rollup
        only_acme = headroom_series(conn, HEADROOM, T0, tenant="acme")
        only_zendesk = headroom_series(conn, HEADROOM, T0, system="zendesk")
    lines = {line.label: points for line, points in quota.items()}
    assert lines["stripe · acme · cred-1"] == {int(T0): 990.0, int(T0) + 60: 960.0, int(T0) + 120: 955.0}
    assert lines["zendesk · globex · cred-1"] == {int(T0): 1000.0, int(T0) + 60: 1000.0, int(T0) + 120: 1000.0}
    assert {line.label: p for line, p in per_3min.items()}["stripe · acme · cred-1"] == {int(T0): 955.0}
    assert {line.label: p for line, p in hourly.items()}["stripe · acme · cred-1"] == {int(T0): 955.0}
    assert [line.tenant for line in only_acme] == ["acme"]
    assert [line.system for line in only_zendesk] == ["zendesk"]


def test_the_sampler_thread_records_until_stopped(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/s.db")
    ot.ops_series.create(engine)
    key = governed("acme", "stripe", ManualClock(T0))
    sampler = HeadroomSampler(engine, lambda: [key], every_s=0.01).start()
    try:
        for _ in range(200):
            with engine.connect() as conn:
                if headroom_series(conn, HEADROOM, 1):
                    break
    finally:
        sampler.stop()
    with engine.connect() as conn:
        assert [line.label for line in headroom_series(conn, HEADROOM, 1)] == ["stripe · acme · cred-1"]


def test_dashboard_charts_headroom_and_quota_of_a_served_connection(tmp_path: Path, runtime: Runtime) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/c.db", sqlite_synchronous="NORMAL")
    with running_twin() as twin:
        stripe = StripeConnector(stripe_config(twin.url, credential_id="acct-main"))
        app = create_app(settings, runtime, connectors={"stripe": stripe})
        with TestClient(app) as client:
            client.headers.update(bearer(key_for(app.state.concord.engine, tenant=ALL_TENANTS, name="ops")))
            stripe.read("customer", "cus_missing")  # spends a read token
            metrics = client.get("/metrics").text
            page = client.get("/console/dashboard").text
            filtered = client.get("/console/dashboard/charts", params={"system": "zendesk"}).text
            other = client.get("/console/dashboard/charts", params={"tenant": "someone-else"}).text
    assert 'concord_rate_limit_headroom{credential="acct-main:read",system="stripe",tenant="default"}' in metrics
    assert "Rate-limit headroom (tokens left)" in page and "Daily quota left" in page
    assert "stripe · default · acct-main:read" in page and "stripe · default · acct-main:write" in page
    assert "Rate-limit headroom" in filtered and "acct-main" not in filtered
    assert "acct-main" not in other
