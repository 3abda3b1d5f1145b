"""HTTP contract of the core API: 202 after durability, replays, problem+json for every refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.settings import Settings
from tests.factories import change
from tests.security.support import bearer, key_for


@pytest.fixture
def client(database_url: str, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def body(system: str = "salesforce", ext: str = "001A", fields: dict[str, Any] | None = None, key: str = "k1",
         ts: str = "2026-03-01T12:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"system": system, "entity": "account", "external_id": ext, "fields": fields or {"Name": "Acme"},
            "source_ts": ts, "idempotency_key": key, **extra}


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field is not None:
        assert problem["field"] == field, problem
    return problem


def test_change_is_accepted_then_readable_with_provenance(client: TestClient) -> None:
    response = client.post("/api/v1/changes", json=body(fields={"Name": "Acme", "Type": "Enterprise"},
                                                        correlation_id="corr-1"))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "applied" and accepted["correlation_id"] == "corr-1"
    customer = client.get(f"/api/v1/customers/{accepted['canonical_id']}").json()
    assert customer["record"]["segment"] == "enterprise"
    assert customer["fields"]["name"]["system"] == "salesforce"
    assert customer["fields"]["name"]["mapping_version"] == "salesforce/account@1"
    assert customer["bindings"][0]["external_id"] == "001A"
    assert client.get(f"/api/v1/changes/{accepted['change_id']}").json()["change_id"] == accepted["change_id"]


def test_repeated_idempotency_key_returns_first_result(client: TestClient) -> None:
    first = client.post("/api/v1/changes", json=body()).json()
    again = client.post("/api/v1/changes", json=body(fields={"Name": "Changed"}))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["change_id"] == first["change_id"]
    assert client.get(f"/api/v1/customers/{first['canonical_id']}").json()["record"]["name"] == "Acme"


@pytest.mark.parametrize(("payload", "field"), [
    (body(fields={"Nmae": "x"}), "fields.Nmae"),
    (body(fields={"NumberOfEmployees": "lots"}), "fields.NumberOfEmployees"),
    (body(fields={"ShippingCountry": "Germany"}), "fields.ShippingCountry"),
    (body(system="sap"), "system"),
    (body(ts="yesterday"), "source_ts"),
    ({**body(), "idempotency_key": ""}, "idempotency_key"),
    ({k: v for k, v in body().items() if k != "external_id"}, "external_id"),
    ({**body(), "surprise": 1}, "surprise"),
])
def test_bad_input_is_422_problem_naming_the_field(client: TestClient, payload: dict[str, Any], field: str) -> None:
    assert_problem(client.post("/api/v1/changes", json=payload), 422, field)
    assert client.post("/api/v1/changes", json=body(key="after")).status_code == 202


def test_illegal_lifecycle_transition_is_409(client: TestClient) -> None:
    cid = client.post("/api/v1/changes", json=body()).json()["canonical_id"]
    move = client.post(f"/api/v1/customers/{cid}/lifecycle", json={"to": "prospect", "reason": "new lead"})
    assert move.status_code == 202 and move.json()["applied"] == ["lifecycle_state"]
    problem = assert_problem(client.post(f"/api/v1/customers/{cid}/lifecycle",
                                         json={"to": "active", "reason": "skip"}), 409, "lifecycle_state")
    assert "prospect → active" in problem["detail"]
    assert client.get(f"/api/v1/customers/{cid}").json()["record"]["lifecycle_state"] == "prospect"
    assert_problem(client.post(f"/api/v1/customers/{cid}/lifecycle", json={"to": "paused", "reason": "x"}), 422, "to")


def test_unknown_customer_is_404(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/customers/nope"), 404)
    assert_problem(client.post("/api/v1/customers/nope/lifecycle", json={"to": "qualified", "reason": "x"}), 404)
    assert_problem(client.get("/api/v1/changes/nope"), 404)


def test_batch_judges_each_change(client: TestClient) -> None:
    changes = [body(ext=f"00{i}", key=f"b{i}") for i in range(5)] + [body(system="sap", key="bad")]
    response = client.post("/api/v1/changes/batch", json={"changes": changes})
    assert response.status_code == 202
    result = response.json()
    assert (result["accepted"], result["failed"]) == (5, 1)
    assert result["results"][5]["error"]["field"] == "system"


def test_approvals_flow_over_http(client: TestClient) -> None:
    cid = client.post("/api/v1/changes", json=body()).json()["canonical_id"]
    pending = client.post("/api/v1/changes", json=body(system="zendesk", ext="z1", key="z", fields={"name": "Acme HQ"},
                                                       canonical_id=cid, ts="2026-03-01T12:05:00Z")).json()
    assert pending["status"] == "pending"
    [task] = client.get("/api/v1/approvals").json()
    assert task["value"] == "Acme HQ" and task["current"] == "Acme"
    assert_problem(client.post(f"/api/v1/approvals/{task['id']}/approve", json={"reason": "x" * 501}), 422,
                   "reason")
    # The body claims to be "dana": ignored (and announced as deprecated); the decider is the calling key.
    approved = client.post(f"/api/v1/approvals/{task['id']}/approve", json={"actor": "dana"})
    assert approved.status_code == 200 and approved.json()["applied"] == ["name"]
    assert "Deprecation" in approved.headers and "Sunset" in approved.headers
    assert_problem(client.post(f"/api/v1/approvals/{task['id']}/reject", json={}), 409)
    assert client.get(f"/api/v1/records/{cid}").json()["fields"]["name"]["approved_by"] == "tester"
    assert_problem(client.post("/api/v1/approvals/missing/approve", json={}), 404)


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    checks = {c["name"]: c["status"] for c in client.get("/readyz").json()["checks"]}
    assert checks["database"] == "ok"


def test_an_overloaded_writer_answers_503_with_retry_after_and_queues_nothing(database_url: str,
                                                                              runtime: Runtime) -> None:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL", ingest_max_waiting=2), runtime)
    with TestClient(app) as client:
        client.headers.update(bearer(key_for(app.state.concord.engine)))
        service = app.state.concord.ingest
        service.stop()  # the writer falls behind: what Concord queues itself waits
        backlog = service.submit([change("salesforce", f"001B{i}", {"Name": f"Backlog {i}"}) for i in range(3)])
        single = client.post("/api/v1/changes", json=body(ext="001OVER", key="over-1"))
        problem = assert_problem(single, 503)
        assert problem["waiting"] == 3 and problem["limit"] == 2 and "retry" in problem["detail"]
        assert int(single.headers["Retry-After"]) >= 1
        batch = client.post("/api/v1/changes/batch", json={"changes": [body(ext="001OVER2", key="over-2")]})
        assert_problem(batch, 503)
        hub_key = key_for(app.state.concord.engine, tenant="*", name="operator")
        metrics = client.get("/metrics", headers=bearer(hub_key)).text
        assert 'concord_ingest_waiting_changes{tenant="*"} 3.0' in metrics
        assert 'concord_ingest_refused_changes_total{tenant="*"} 2.0' in metrics
        service.start()
        backlog.result(timeout=30)
        again = client.post("/api/v1/changes", json=body(ext="001OVER", key="over-1"))
        assert again.status_code == 202, again.text
        assert "Idempotent-Replayed" not in again.headers  # the refused attempt left nothing behind
