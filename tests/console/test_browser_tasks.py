"""Acceptance: an onboarding run stops on an exception task; resolving it in the console's inbox (corrected
data, in Chromium) lets the workflow finish — against the Salesforce, Stripe and Zendesk twins, a real SCIM
server and a real Tryton ERP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from playwright.sync_api import sync_playwright

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.sandbox.tryton import TrytonServer
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from concord.storage.engine import make_engine
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.onboarding_model import OnboardRequest
from concord.workflows.processes import process_specs, start_process
from concord.workflows.services import standard_services
from tests.connectors.tryton.support import require_trytond, server_settings
from tests.console.browser import CHROMIUM_ARGS, ConsoleErrors, artifacts_dir, live_server, require_chromium
from tests.security.support import bearer, key_for
from tests.workflows.support import Systems, concord_database, crm_customer, running_systems, settle

pytestmark = [pytest.mark.tryton, pytest.mark.slow]
T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Blocking workflow calls stay off the thread whose event loop Playwright's sync API keeps running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@dataclass
class World:
    url: str
    key: str
    engine: WorkflowEngine
    systems: Systems
    database_url: str
    browser: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime) -> Iterator[World]:
    chromium = require_chromium()
    require_trytond()
    tmp = tmp_path_factory.mktemp("inbox")
    with TrytonServer(server_settings(work_dir=tmp / "tryton")) as tryton, running_systems(tryton) as systems:
        url = concord_database(tmp / "concord.db")
        db = make_engine(url, sqlite_synchronous="NORMAL")
        connectors = systems.build().build()
        settings = WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL", task_poll_s=1.0)
        with WorkflowEngine(settings, standard_services(db, runtime, connectors, None)) as engine:
            app = create_app(Settings(database_url=url, sqlite_synchronous="NORMAL"), runtime, workflows=engine)
            with live_server(app) as base, sync_playwright() as pw:
                key = key_for(app.state.concord.engine, tenant=ALL_TENANTS, name="steward")
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
                try:
                    yield World(base, key, engine, systems, url, browser)
                finally:
                    browser.close()
        for connector in connectors.values():
            connector.close()
        db.dispose()


def test_resolving_a_task_in_the_inbox_lets_the_onboarding_finish(world: World, runtime: Runtime) -> None:
    customer, _ = crm_customer(world.systems, runtime, world.database_url, "Inbox Resolve NV",
                               ShippingPostalCode="")
    request = OnboardRequest(customer_id=customer, admin_email="it@inbox.example", plan_price=world.systems.price(),
                             seats=3)
    view = off_loop(start_process, world.engine, process_specs()["onboard-customer"], request)
    waiting = off_loop(settle, world.engine, view.workflow_id, until=("waiting", "completed", "failed"))
    assert waiting.status == "waiting" and waiting.open_tasks, waiting
    task = waiting.open_tasks[0]
    assert "postal_code" in task.fields

    context = world.browser.new_context(base_url=world.url, extra_http_headers=bearer(world.key),
                                        viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors = ConsoleErrors()
    errors.attach(page)
    page.goto(f"/console/customers/{customer}")
    assert "onboard-customer waits at validate" in page.locator("#blocked").inner_text()
    page.goto("/console/dashboard")
    assert page.locator('[data-live="open_tasks"]').inner_text() == "1"
    page.goto("/console/inbox")
    row = page.locator(f'#tasks tr[data-task="{task.id}"]')
    assert "mandatory master data missing" in row.inner_text()
    row.locator("textarea[name=corrected]").fill(
        '{"postal_code": "1000", "tax_id": "BE0897290877", "tax_id_type": "eu_vat"}')
    page.screenshot(path=str(artifacts_dir() / "inbox-task-open.png"), full_page=True)
    row.get_by_role("button", name="Resolve").click()
    page.wait_for_url("**/console/inbox?**")
    assert f"task {task.id}: resolve done" in page.locator(".flash").inner_text()
    page.screenshot(path=str(artifacts_dir() / "inbox-task-resolved.png"), full_page=True)

    done = off_loop(settle, world.engine, view.workflow_id, timeout_s=120)
    assert done.status == "completed", done
    page.goto(f"/console/customers/{customer}")
    assert "Not blocked." in page.locator("#blocked").inner_text()  # no open task holds the customer any more
    page.screenshot(path=str(artifacts_dir() / "inbox-customer-after-onboarding.png"), full_page=True)
    context.close()
    assert errors.seen == [], errors.seen
