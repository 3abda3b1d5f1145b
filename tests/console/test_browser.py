"""The console in real headless Chromium: live dashboard figures after a demo run, the customer 360 with
provenance and the blocked reason, a dead-letter retry from the browser that then succeeds, a failed sync
corrected from the inbox, and no browser console errors on any page. Screenshots are saved as artefacts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from concord.api.app import create_app
from concord.api.deps import AppContext
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from tests.connectors.stripe.support import running_twin
from tests.console import scenario
from tests.console.browser import CHROMIUM_ARGS, ConsoleErrors, artifacts_dir, live_server, require_chromium
from tests.security.support import bearer, key_for

pytestmark = pytest.mark.slow
PAGES = {"dashboard": "/console/dashboard", "customers": "/console/customers",
         "customer-360": f"/console/customers/{scenario.BLOCKED_CUSTOMER}", "inbox": "/console/inbox",
         "dead-letters": "/console/dead-letters", "mappings": "/console/mappings", "audit": "/console/audit"}


@dataclass
class Live:
    url: str
    api: httpx.Client
    engine: Engine
    config: Path
    partner: scenario.Partner
    browser: Any
    key: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("browser")
    os.environ[scenario.SECRET_ENV] = "browser-secret"
    with scenario.partner_server() as partner:
        config = scenario.config_dir(tmp, partner.url)
        app = create_app(Settings(database_url=f"sqlite:///{tmp / 'concord.db'}", sqlite_synchronous="NORMAL",
                                  config_dir=config))
        with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as api, sync_playwright() as pw:
            ctx: AppContext = app.state.concord
            key = key_for(ctx.engine, tenant=ALL_TENANTS, name="operator")
            api.headers.update(bearer(key))
            scenario.ingest_demo(api)
            scenario.block_customer(api)
            scenario.fail_one_command(ctx.engine)
            scenario.run_events(ctx.engine, config)
            with running_twin() as stripe:
                scenario.stripe_traffic(app.state.ops, stripe.url)
            scenario.earlier_headroom_sample(ctx.engine, app.state.ops)
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                yield Live(url, api, ctx.engine, config, partner, browser, key)
            finally:
                browser.close()
    os.environ.pop(scenario.SECRET_ENV, None)


@pytest.fixture
def page(live: Live, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = live.browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live.url,
                                       extra_http_headers=bearer(live.key))
    tab = context.new_page()
    errors = ConsoleErrors()
    errors.attach(tab)
    tab.console_errors = errors
    yield tab
    tab.screenshot(path=str(artifacts_dir() / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors.seen == [], errors.seen


def count(engine: Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar() or 0)


def test_every_page_loads_without_browser_errors(live: Live, page: Any) -> None:
    for name, path in PAGES.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        assert page.locator("#trace-id").inner_text() != "—"
        page.screenshot(path=str(artifacts_dir() / f"view-{name}.png"), full_page=True)


def test_dashboard_shows_live_figures_after_the_demo_run(live: Live, page: Any) -> None:
    page.goto("/console/dashboard")
    changes = page.locator('[data-live="changes"]')
    assert int(changes.inner_text()) == count(live.engine, "SELECT COUNT(*) FROM change_log")
    assert int(page.locator('[data-live="dead_letters"]').inner_text()) == 1
    assert page.locator("svg.chart").count() >= 4
    assert page.get_by_text("API latency of stripe (ms)").is_visible()  # p50/p95/p99 of real twin calls
    quota = page.locator("figure", has_text="Daily quota left")
    assert "stripe · default · default:write" in quota.inner_text()
    assert "now 5.0k" in quota.inner_text()  # 4,988 left, shown to one decimal
    headroom = page.locator("figure", has_text="Rate-limit headroom")
    assert headroom.locator("polyline").count() == 2  # the read and the write bucket, sampled over time
    moved = live.api.post("/api/v1/customers/cus_0020/lifecycle", json={"to": "suspended", "reason": "audit"})
    assert moved.status_code == 202, moved.text
    expected = str(count(live.engine, "SELECT COUNT(*) FROM change_log"))
    expect(changes).to_have_text(expected, timeout=15_000)  # the page refreshes itself every 5 s, no reload


def test_dashboard_charts_headroom_over_time_with_tenant_and_system_filters(live: Live, page: Any) -> None:
    page.goto("/console/dashboard")
    quota = page.locator("figure", has_text="Daily quota left")
    points = quota.locator("polyline").first.get_attribute("points") or ""
    assert len(points.split()) >= 2  # the earlier sample and the one taken as the page rendered
    page.select_option("select[name=system]", "stripe")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**system=stripe**")
    assert "stripe · default" in page.locator("figure", has_text="Daily quota left").inner_text()
    page.select_option("select[name=system]", "tryton")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**system=tryton**")
    assert "no data in this window" in page.locator("figure", has_text="Daily quota left").inner_text()
    page.screenshot(path=str(artifacts_dir() / "dashboard-headroom-filtered.png"), full_page=True)


def test_customer_360_shows_provenance_and_the_blocked_reason(live: Live, page: Any) -> None:
    page.goto(PAGES["customer-360"])
    blocked = page.locator("#blocked")
    assert "Why is this customer blocked?" in blocked.inner_text()
    assert "customer is on credit hold" in blocked.inner_text()
    name_row = page.locator("#provenance tr", has_text="legal_name")
    assert "tryton" in name_row.inner_text() and "tryton/account@" in name_row.inner_text()
    assert page.locator("#bindings").inner_text().count("salesforce") == 1
    assert page.locator("#timeline .group").count() >= 2


def test_dead_letter_retry_from_the_browser_succeeds(live: Live, page: Any) -> None:
    page.goto("/console/dead-letters")
    row = page.locator("#dead-letters tr[data-letter]")
    assert row.count() == 1 and scenario.BROKEN_CUSTOMER in row.inner_text()
    live.partner.broken.clear()  # the partner fixed its endpoint
    row.get_by_role("button", name="Retry").click()
    page.wait_for_url("**/console/dead-letters?**")
    assert "queued again for partner-webhook" in page.locator(".flash").inner_text()
    assert page.locator("#dead-letters tr[data-letter]").count() == 0
    scenario.run_events(live.engine, live.config)  # the consumer's next run delivers it
    delivered = [e for e in live.partner.received if e.get("customer_key") == scenario.BROKEN_CUSTOMER]
    assert len(delivered) == 1 and delivered[0]["type"] == "CustomerCreated"
    assert count(live.engine, "SELECT COUNT(*) FROM event_dead_letters WHERE status = 'dead'") == 0


def test_failed_sync_corrected_from_the_inbox_is_delivered_again(live: Live, page: Any) -> None:
    page.goto("/console/inbox")
    row = page.locator("#failed-commands tr[data-seq]").first
    seq = row.get_attribute("data-seq")
    row.locator("textarea[name=corrected]").fill('{"legal_name": "Fixed From Browser GmbH"}')
    row.get_by_role("button", name="Correct & retry").click()
    page.wait_for_url("**/console/inbox?**")
    assert f"command {seq} queued again" in page.locator(".flash").inner_text()
    assert count(live.engine, f"SELECT COUNT(*) FROM outbox WHERE seq = {seq} AND failed_at IS NULL") == 1


def test_a_replay_started_from_the_browser_is_recorded(live: Live, page: Any) -> None:
    page.goto("/console/dead-letters")
    form = page.locator("#replay-form")
    form.locator("select[name=subscription]").select_option("partner-webhook")
    form.locator("input[name=customer]").fill(scenario.BLOCKED_CUSTOMER)
    before = len(live.partner.received)
    form.get_by_role("button", name="Replay").click()
    page.wait_for_url("**/console/dead-letters?**")
    assert "delivered 1, failed 0" in page.locator(".flash").inner_text()
    assert page.locator("#replays tbody tr").count() == 1
    again = live.partner.received[before:]
    assert [e["customer_key"] for e in again] == [scenario.BLOCKED_CUSTOMER]  # delivered once more, on request


def test_a_person_signs_in_with_a_key_and_out_again(live: Live) -> None:
    context = live.browser.new_context(base_url=live.url)  # no Authorization header: the cookie carries the key
    page = context.new_page()
    errors = ConsoleErrors()
    errors.attach(page)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    refused = page.goto("/console/dashboard")  # without a key the browser is sent to the sign-in page
    assert refused is not None and refused.status == 200 and page.url.endswith("/console/static/login.html")
    page.locator("input[name=api_key]").fill(live.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/dashboard")
    assert int(page.locator('[data-live="changes"]').inner_text()) > 0
    cookie = next(c for c in context.cookies() if c["name"] == "concord_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.screenshot(path=str(artifacts_dir() / "signed-in.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/static/login.html")
    page.goto("/console/dashboard")  # signed out: back to the sign-in page
    assert page.url.endswith("/console/static/login.html")
    context.close()
    assert {u.rsplit("/", 1)[-1] for u in missing} <= {"favicon.ico"}
    assert [e for e in errors.seen if "status of 401" not in e and "status of 404" not in e] == []
