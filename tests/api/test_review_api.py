"""`/api/v1/review`: a held record listed with its evidence, linked by a steward; problem+json on refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.api.routes import review as review_routes
from concord.hubconfig import Runtime
from concord.settings import Settings
from tests.security.support import bearer, key_for

ACME = {"Name": "Acme Logistics GmbH", "Phone": "+49 30 1234567", "ShippingStreet": "12 Market Street",
        "ShippingCity": "Berlin", "ShippingPostalCode": "10115", "ShippingCountry": "DE"}


@pytest.fixture
def client(database_url: str, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def _change(ext: str, key: str) -> dict[str, object]:
    return {"system": "salesforce", "entity": "account", "external_id": ext, "fields": ACME,
            "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": key}


def test_held_pair_is_listed_then_linked(client: TestClient) -> None:
    first = client.post("/api/v1/changes", json=_change("001A", "k1")).json()
    held = client.post("/api/v1/changes", json=_change("001Z", "k2")).json()
    assert held["status"] == "held" and held["review_id"]
    [pending] = client.get("/api/v1/review").json()
    assert pending["id"] == held["review_id"] and pending["left_id"] == first["canonical_id"]
    assert pending["right_id"] == "ext:salesforce:001Z" and pending["evidence"][0]["field"] == "name"
    verdict = client.post(f"/api/v1/review/{held['review_id']}/link", json={"actor": "ann"})
    assert verdict.status_code == 200, verdict.text
    assert verdict.json() == {"review_id": held["review_id"], "status": "same",
                              "canonical_id": first["canonical_id"], "released": 1, "merge_id": None}
    assert client.get("/api/v1/review").json() == []
    [decided] = client.get("/api/v1/review", params={"status": "same"}).json()
    assert decided["decided_by"] == "ann"
    again = client.post(f"/api/v1/review/{held['review_id']}/split", json={})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    missing = client.post("/api/v1/review/nope/link", json={})
    assert missing.status_code == 404
    bad = client.get("/api/v1/review", params={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_routes_declare_their_scope() -> None:
    scopes = {route.path: [getattr(d.call, "__concord_scope__", None) for d in route.dependant.dependencies]
              for route in review_routes.router.routes}  # type: ignore[attr-defined]
    assert {path: [s for s in found if s] for path, found in scopes.items()} == {
        "/api/v1/review": ["records:read"], "/api/v1/review/{review_id}/link": ["review:decide"],
        "/api/v1/review/{review_id}/split": ["review:decide"]}
