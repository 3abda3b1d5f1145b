"""The sync loop of the embedded default (decision 078): commands reach the systems without a manual drain,
configured captures feed golden records on their schedule, and a restart resumes from the saved cursor."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from concord.api.serving import create_serving_app
from concord.connectors.base import ChangePage, RetryableError
from concord.delivery.loop import CaptureSpec, SyncLoop
from concord.delivery.store import DeliveryStore
from concord.delivery.sync_plan import hosted_sync, plan_sync
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.storage import queries
from concord.storage import tables as t
from concord.workflows.connections import Targets, load_connections
from tests.delivery.memory_connector import MemorySystem
from tests.delivery.twins import connections, eventually, twins
from tests.security.support import bearer, key_for


def _bound(engine: Engine, canonical_id: str, system: str) -> str | None:
    with engine.connect() as conn:
        return {b["system"]: b["external_id"] for b in queries.bindings_of(conn, canonical_id)}.get(system)


def _golden_name(engine: Engine, sf_id: str) -> str | None:
    with engine.connect() as conn:
        cid = queries.canonical_for(conn, "default", "salesforce", "account", sf_id)
        golden = queries.golden_record(conn, cid) if cid else None
    return None if golden is None else golden.value("name")


def _capture_started(engine: Engine) -> bool:
    return DeliveryStore(engine).has_cursor("default", "salesforce", "Account")


def _create_in_salesforce(systems: Targets, name: str) -> str:
    return systems.default["salesforce"].create("Account", {"Name": name}, f"test-{name}").id


def test_served_app_delivers_commands_and_captures_changes(runtime: Runtime, tmp_path: Path) -> None:
    with twins() as box:
        path = connections(box, tmp_path / "systems.yaml")
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", sqlite_synchronous="NORMAL",
                            connections=path, sync_idle_s=0.1)
        app = create_serving_app(settings, runtime)
        systems = load_connections(path)
        try:
            with TestClient(app) as client:
                engine = app.state.concord.engine
                # one set of connectors (one rate governor per allowance) for the workflow steps and the loop
                assert app.state.sync.delivery.dispatcher.connectors is app.state.workflows.services.connectors
                client.headers.update(bearer(key_for(engine)))
                answer = client.post("/api/v1/changes", json={
                    "tenant": "default", "system": "salesforce", "entity": "account", "external_id": "001API",
                    "fields": {"Name": "Served Sync Inc"}, "source_ts": "2026-05-01T00:00:00Z",
                    "idempotency_key": "served-sync-1"})
                assert answer.status_code == 202, answer.text
                cid = answer.json()["canonical_id"]
                # default tenant: Zendesk creates accounts (auto_create); nobody drains the outbox by hand
                zendesk_id = eventually(lambda: _bound(engine, cid, "zendesk"))
                org = systems.default["zendesk"].read("organizations", zendesk_id)
                assert org is not None and org.fields["name"] == "Served Sync Inc"
                eventually(lambda: _capture_started(engine))
                sf_id = _create_in_salesforce(systems, "Captured Corp")
                assert eventually(lambda: _golden_name(engine, sf_id)) == "Captured Corp"
            assert app.state.sync is None  # stopped with the app
        finally:
            systems.close()


def _changes_from(engine: Engine, sf_id: str) -> int:
    c = t.change_log.c
    with engine.connect() as conn:
        query = select(func.count()).select_from(t.change_log).where(c.system == "salesforce", c.external_id == sf_id)
        return int(conn.execute(query).scalar_one())


def test_a_restart_resumes_from_the_saved_cursor(runtime: Runtime, engine: Engine, ingest: IngestService,
                                                 tmp_path: Path) -> None:
    with twins() as box:
        path = connections(box, tmp_path / "systems.yaml")
        systems = load_connections(path)
        try:
            before = _create_in_salesforce(systems, "Existing Before Start")
            with hosted_sync(plan_sync(path, runtime), engine, ingest, idle_s=0.1):
                eventually(lambda: _capture_started(engine))
                first = _create_in_salesforce(systems, "First While Running")
                eventually(lambda: _golden_name(engine, first))
            while_down = _create_in_salesforce(systems, "Changed While Down")
            with hosted_sync(plan_sync(path, runtime), engine, ingest, idle_s=0.1) as loop:
                assert eventually(lambda: _golden_name(engine, while_down)) == "Changed While Down"
                eventually(lambda: all(p.failures == 0 for p in loop.pollers))
        finally:
            systems.close()
    assert _golden_name(engine, before) is None  # starting from now: no backfill as a side effect
    assert _changes_from(engine, first) == 1  # resumed from the cursor: nothing re-ingested but replays



class Flaky(MemorySystem):
    """Its change feed fails `failing` times first, with a message echoing a record's data."""

    def __init__(self, failing: int) -> None:
        super().__init__("salesforce", ("Account",))
        self.failing = failing

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        if self.failing:
            self.failing -= 1
            raise RetryableError("salesforce", "503 while reading Name=Secret Payload Ltd")
        return super().changes_since(obj, cursor)


def test_a_failing_capture_is_logged_without_payload_retried_and_recovers(
        engine: Engine, ingest: IngestService, caplog: pytest.LogCaptureFixture) -> None:
    crm = Flaky(failing=2)
    spec = CaptureSpec("salesforce", "Account", "account", "default", every_s=0.02)
    caplog.set_level(logging.INFO, logger="concord.delivery.loop")
    with SyncLoop(DeliveryStore(engine), ingest, {"salesforce": crm}, [spec], idle_s=0.05) as loop:
        eventually(lambda: _capture_started(engine))
        record = crm.create("Account", {"Name": "After The Outage"}, "k1")
        assert eventually(lambda: _golden_name(engine, record.id)) == "After The Outage"
        assert loop.delivery._thread.is_alive() and loop.pollers[0]._thread.is_alive()
    failed = [r for r in caplog.records if r.getMessage() == "capture round failed"]
    assert len(failed) == 2 and all(getattr(r, "tenant", None) == "default" for r in failed)
    assert all("Secret Payload" not in r.getMessage() + str(r.__dict__) for r in failed)
    assert [getattr(r, "retry_in_s", None) for r in failed] == [0.04, 0.08]  # backed off, not hammered
