"""A NUL inside any JSON body is refused at the edge with a 422 naming the field's path, on SQLite and
PostgreSQL, and nothing of the request is written (PostgreSQL text cannot hold U+0000: it used to be a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangeQueued
from concord.scale.front import ScaleFront
from concord.scale.settings import ScaleSettings
from concord.security.tables import api_keys
from concord.settings import Settings
from concord.storage.tables import change_log, golden_records
from tests.api.test_changes_api import assert_problem, body
from tests.security.support import bearer, key_for


@pytest.fixture
def client(database_url: str, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def _written(client: TestClient) -> tuple[int, int]:
    engine = client.app.state.concord.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(change_log)).scalar_one(),
                conn.execute(select(func.count()).select_from(golden_records)).scalar_one())


def test_a_nul_in_a_change_is_refused_naming_its_path_and_nothing_is_written(client: TestClient) -> None:
    for change, field in ((body(fields={"Name": "Acme\x00Corp"}), "fields.Name"),
                          (body(ext="001\x00"), "external_id"),
                          (body(fields={"Na\x00me": "Acme"}), "fields.Na\\u0000me"),
                          (body(correlation_id="c\x00"), "correlation_id")):
        problem = assert_problem(client.post("/api/v1/changes", json=change), 422, field)
        assert "NUL" in problem["detail"] and "\x00" not in orjson.dumps(problem).decode()
    assert _written(client) == (0, 0)


def test_a_nul_in_one_change_of_a_batch_refuses_the_whole_batch(client: TestClient) -> None:
    changes = [body(ext=f"00{i}", key=f"b{i}", fields={"Name": name})
               for i, name in enumerate(("Acme", "Zebra Holdings", "Quill"))]
    changes[2]["fields"]["BillingCity"] = "Pa\x00ris"
    assert_problem(client.post("/api/v1/changes/batch", json={"changes": changes}), 422,
                   "changes.2.fields.BillingCity")
    assert _written(client) == (0, 0)  # not the two clean changes either: no half-applied batch
    clean = client.post("/api/v1/changes/batch", json={"changes": changes[:2]})
    assert clean.status_code == 202 and clean.json()["accepted"] == 2
    assert _written(client) == (2, 2)


def test_every_json_route_is_screened_and_text_that_only_looks_like_a_nul_passes(client: TestClient) -> None:
    engine = client.app.state.concord.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        keys_before = conn.execute(select(func.count()).select_from(api_keys)).scalar_one()
    refused = client.post("/api/v1/keys", json={"name": "ops\x00", "tenant": "default", "role": "viewer"})
    assert_problem(refused, 422, "name")
    raw = client.post("/api/v1/changes", content=b'{"system": "salesforce\\u0000"}',
                      headers={"content-type": "application/json; charset=utf-8"})
    assert_problem(raw, 422, "system")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_keys)).scalar_one() == keys_before
    literal = client.post("/api/v1/changes", json=body(fields={"Name": "C:\\u0000 folder"}))
    assert literal.status_code == 202, literal.text  # a backslash followed by u0000 is ordinary text
    assert _written(client) == (1, 1)


class _RecordingBus:
    def __init__(self) -> None:
        self.published: list[list[ChangeCreate]] = []

    def publish(self, changes: list[ChangeCreate], patience_s: float) -> list[int]:
        self.published.append(list(changes))
        return list(range(1, len(changes) + 1))

    def close(self) -> None:
        pass


def test_the_scale_front_door_never_queues_a_nul(client: TestClient, runtime: Runtime) -> None:
    """Scale mode: the API edge refuses the body before the bus is reached, and the front itself refuses such
    a change from any other caller (a poisoned message would stall its partition's worker)."""
    bus = _RecordingBus()
    front = ScaleFront(runtime, bus, ScaleSettings())  # type: ignore[arg-type]
    client.app.state.concord.front = front  # type: ignore[attr-defined]
    changes = [body(key="s1"), body(key="s2", fields={"Name": "x\x00"})]
    assert_problem(client.post("/api/v1/changes/batch", json={"changes": changes}), 422, "changes.1.fields.Name")
    assert bus.published == []
    outcomes: list[Any] = front.submit([ChangeCreate.model_validate(c) for c in changes])
    assert isinstance(outcomes[0], ChangeQueued)
    assert isinstance(outcomes[1], ChangeError) and outcomes[1].field == "fields.Name"
    assert [[c.idempotency_key for c in batch] for batch in bus.published] == [["s1"]]
    assert _written(client) == (0, 0)
