"""Workers deliver the commands of the partitions they hold: the target system (a Zendesk twin) ends up exactly
as after a single-process run — one organization per customer, each with its last name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.sandbox.common import serve_in_thread
from concord.sandbox.zendesk.app import create_app
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.scale.bus import ChangeBus
from concord.scale.runner import start_delivery
from concord.scale.settings import ScaleSettings
from concord.storage.engine import make_engine, upgrade
from tests.scale.support import T0, count, thread_worker, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.nats]
TWIN = ZendeskTwinSettings(requests_per_minute=1_000_000)


def renames(count_: int, customers: int) -> list[ChangeCreate]:
    return [ChangeCreate(system="salesforce", entity="account", external_id=f"sf-{i % customers}",
                         fields={"Name": f"Customer {i % customers} rev {i // customers}"},
                         source_ts=T0 + timedelta(seconds=i), idempotency_key=f"d-{i}",
                         canonical_id=f"cus-{i % customers}") for i in range(count_)]


@pytest.fixture
def twin() -> Iterator[tuple[str, Any]]:
    app = create_app(TWIN)
    handle = serve_in_thread(app)
    yield handle.base_url, app
    handle.stop()


def organizations(app: Any) -> list[str]:
    return sorted(org.name for org in app.state.store.list_organizations())


def config(url: str) -> dict[str, Any]:
    # The connector paces itself at the plan's 200 requests/min unless told the (twin's) account allows more.
    return {"base_url": url, "email": TWIN.email, "api_token": TWIN.api_token, "tenant": "default",
            "rate_limit": {"requests": 1_000_000, "per_seconds": 60.0}}


def reference_organizations(runtime: Runtime, changes: list[ChangeCreate], tmp: Path) -> list[str]:
    app = create_app(TWIN)
    handle = serve_in_thread(app)
    engine = make_engine(f"sqlite:///{tmp / 'ref.db'}", sqlite_synchronous="OFF")
    upgrade(engine)
    service = IngestService(engine, runtime)
    service.start()
    cfg = config(handle.base_url)
    connector = ZendeskConnector(ZendeskConfig(**{**cfg, "api_token": SecretStr(cfg["api_token"])}))
    for start in range(0, len(changes), 100):
        service.ingest(changes[start:start + 100])
    CommandDispatcher(DeliveryStore(engine), {"zendesk": connector}).drain()
    service.stop()
    connector.close()
    names = organizations(app)
    handle.stop()
    engine.dispose()
    return names


def test_workers_deliver_what_a_single_process_delivers(pg_url: str, scale: ScaleSettings, runtime: Runtime,
                                                        twin: tuple[str, Any], tmp_path: Path) -> None:
    url, app = twin
    connectors_file = tmp_path / "connectors.yaml"
    cfg = config(url)
    connectors_file.write_text("systems:\n  zendesk:\n    connector: zendesk\n    config:\n" +
                               "".join(f"      {k}: {v!r}\n" for k, v in cfg.items()))
    changes = renames(300, customers=30)
    workers = [thread_worker(pg_url, runtime, scale, f"w{i}") for i in range(2)]
    stops = [start_delivery(w.worker.engine, scale, w.worker, connectors_file) for w in workers]
    for w in workers:
        w.start()
    try:
        bus = ChangeBus(scale)
        bus.ensure_stream()
        for start in range(0, len(changes), 50):
            bus.publish(changes[start:start + 50])
        bus.close()
        engine = workers[0].worker.engine
        wait_until(lambda: count(engine, "SELECT count(*) FROM outbox WHERE kind = 'command'"
                                         " AND published_at IS NULL AND failed_at IS NULL") == 0
                   and count(engine, "SELECT count(*) FROM change_log") == 300, 90, "every command delivered")
    finally:
        for stop in stops:
            stop()
        for w in workers:
            w.halt()
    assert count(engine, "SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL") == 0
    assert organizations(app) == reference_organizations(runtime, changes, tmp_path)
    assert len(organizations(app)) == 30
