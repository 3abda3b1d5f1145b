"""`concord serve` in scale mode: POST /changes answers 202 once the bus holds the change, and a worker applies it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.scale.bus import ChangeBus
from concord.scale.settings import ScaleSettings
from concord.settings import Settings
from concord.storage.engine import make_engine
from tests.scale.support import count, thread_worker, wait_until
from tests.security.support import bearer, key_for

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


@pytest.fixture
def client(pg_url: str, scale: ScaleSettings, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=pg_url, scale=True), runtime, scale=scale)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def change(ext: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"system": "salesforce", "entity": "account", "external_id": ext, "fields": fields or {"Name": "Acme"},
            "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": key}


def last_seq(scale: ScaleSettings) -> int:
    bus = ChangeBus(scale)
    try:
        return bus.stream_state()[1]
    finally:
        bus.close()


def test_a_change_is_on_the_bus_when_accepted_and_a_worker_applies_it(client: TestClient, pg_url: str,
                                                                      scale: ScaleSettings, runtime: Runtime) -> None:
    response = client.post("/api/v1/changes", json=change("001A", "k1", Name="Acme GmbH"))
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued" and queued["idempotency_key"] == "k1"
    assert 0 <= queued["partition"] < scale.partitions
    assert last_seq(scale) == queued["stream_seq"] >= 1  # durable on the stream before the 202
    engine = make_engine(pg_url)
    assert count(engine, "SELECT count(*) FROM change_log") == 0  # not applied by the API itself
    batch = client.post("/api/v1/changes/batch", json={"changes": [
        change("002B", "k2"), {**change("003C", "k3"), "entity": "no-such-entity"}]})
    assert batch.status_code == 202
    assert (batch.json()["accepted"], batch.json()["failed"]) == (1, 1)
    assert batch.json()["results"][0]["result"]["status"] == "queued"
    worker = thread_worker(pg_url, runtime, scale, "w0").start()
    try:
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") == 2, 30, "the worker to apply both")
    finally:
        worker.halt()
    assert count(engine, "SELECT count(*) FROM golden_records WHERE data LIKE '%Acme GmbH%'") == 1
    engine.dispose()


def test_an_invalid_change_is_refused_and_never_published(client: TestClient, scale: ScaleSettings) -> None:
    before = last_seq(scale)
    response = client.post("/api/v1/changes", json={**change("001A", "k1"), "entity": "no-such-entity"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert last_seq(scale) == before
