"""The world onboarding runs in, for tests: the Salesforce, Stripe and Zendesk twins and a real SCIM server in
this process, a real Tryton server, and a Concord database. Workers (in this process or in a child process for
the crash tests) reach all of them over HTTP through a `Connections` file."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.sandbox.common import serve_in_thread
from concord.sandbox.salesforce.app import create_app as salesforce_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.stripe.app import create_app as stripe_app
from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.tryton import TrytonServer
from concord.sandbox.zendesk.app import create_app as zendesk_app
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.storage.engine import make_engine, upgrade
from concord.workflows.connections import Connections
from concord.workflows.engine import WorkflowEngine
from concord.workflows.processes import RunView, run_view
from tests.connectors.scim.server import TOKEN as SCIM_TOKEN
from tests.connectors.scim.server import ScimServer, running_scim_server


class WriteCounter:
    """ASGI middleware counting the writes (method, path) a twin received: "exactly once" is measured here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.writes: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH", "PUT", "DELETE"):
            with self._lock:
                self.writes.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    def count(self, method: str, fragment: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.writes if m == method and fragment in p)


@dataclass
class Systems:
    salesforce: Any
    stripe: Any
    zendesk: Any
    scim: ScimServer
    tryton: TrytonServer
    urls: dict[str, str]
    counters: dict[str, WriteCounter] = field(default_factory=dict)

    def connections(self) -> dict[str, Any]:
        sf, st, zd = SalesforceTwinSettings(), StripeTwinSettings(), ZendeskTwinSettings()
        fast = {"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.05}
        return {
            "salesforce": {"login_url": self.urls["salesforce"], "client_id": sf.client_id,
                           "client_secret": sf.client_secret, "retry": fast},
            "tryton": {"url": self.tryton.url, "database": self.tryton.db, "user": self.tryton.admin_login,
                       "password": self.tryton.admin_password, "company_id": self.tryton.meta.companies[0].id},
            "stripe": {"base_url": self.urls["stripe"], "api_key": st.api_key},
            "zendesk": {"base_url": self.urls["zendesk"], "email": zd.email, "api_token": zd.api_token},
            "scim": {"base_url": self.scim.url, "bearer_token": SCIM_TOKEN},
        }

    def write_connections(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump(self.connections()), encoding="utf-8")
        return path

    def build(self) -> Connections:
        return Connections.model_validate(self.connections())

    def price(self, amount: int = 4900) -> str:
        form = {"currency": "eur", "unit_amount": str(amount), "recurring[interval]": "month",
                "product_data[name]": "Plan"}
        answer = httpx.post(f"{self.urls['stripe']}/v1/prices", data=form,
                            headers={"Authorization": f"Bearer {StripeTwinSettings().api_key}"})
        answer.raise_for_status()
        return str(answer.json()["id"])


@contextmanager
def running_systems(tryton: TrytonServer) -> Iterator[Systems]:
    apps = {"salesforce": salesforce_app(SalesforceTwinSettings()),
            "stripe": stripe_app(StripeTwinSettings(rate_limit_per_second=100_000)),
            "zendesk": zendesk_app(ZendeskTwinSettings())}
    with ExitStack() as stack:
        urls, counters = {}, {}
        for name, app in apps.items():
            counters[name] = WriteCounter(app)
            handle = serve_in_thread(counters[name])
            stack.callback(handle.stop)
            urls[name] = handle.base_url
        scim = stack.enter_context(running_scim_server())
        yield Systems(apps["salesforce"], apps["stripe"], apps["zendesk"], scim, tryton, urls, counters)


def concord_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(engine)
    engine.dispose()
    return url


def be_vat(seed: str) -> str:
    """A valid Belgian VAT number of its own per seed: customers sharing one are the same legal entity, and
    onboarding links the second to the first one's ERP party (issue #6)."""
    base = 2_000_000 + zlib.crc32(seed.encode()) % 7_000_000
    return f"BE0{base:07d}{97 - (base % 97):02d}"


def crm_customer(systems: Systems, runtime: Runtime, url: str, name: str, online_check: bool = True,
                 **fields: Any) -> tuple[str, str]:
    """A customer as sales hands it over: an Account in the Salesforce twin, captured into Concord
    (`online_check=False`: as a look-alike that came in before matching existed). Returns (Concord id, SF id)."""
    # Each customer gets its own street: same-address look-alikes are held for a steward by the online check.
    number = zlib.crc32(name.encode()) % 900 + 1
    values = {"Name": name, "ShippingStreet": f"{number} Rue de la Loi", "ShippingCity": "Brussels",
              "ShippingPostalCode": "1000", "ShippingCountry": "BE", "NumberOfEmployees": 250, **fields}
    sf_id = systems.salesforce.state.store.inject("Account", values)
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    service = IngestService(engine, runtime, online_check=online_check)
    service.start()
    try:
        outcome = service.ingest([ChangeCreate(system="salesforce", entity="account", external_id=sf_id,
                                               fields=values, source_ts=datetime.now(UTC),
                                               idempotency_key=f"capture-{sf_id}")])[0]
    finally:
        service.stop()
        engine.dispose()
    assert isinstance(outcome, ChangePublic) and outcome.status != "held", outcome
    return outcome.canonical_id, sf_id


def settle(engine: WorkflowEngine, workflow_id: str, timeout_s: float = 60.0,
           until: tuple[str, ...] = ("completed", "cancelled", "failed")) -> RunView:
    """Poll a run until it reaches one of `until` (a waiting run counts when "waiting" is listed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = run_view(engine, workflow_id)
        if view is not None and view.status in until:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"run {workflow_id} did not settle: {view}")
        time.sleep(0.05)
