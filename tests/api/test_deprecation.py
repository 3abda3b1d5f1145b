"""The versioning policy: a deprecated route answers with Deprecation, Sunset and a successor Link, OpenAPI marks
it deprecated, and CHANGELOG.md lists every registered deprecation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from concord.api.app import create_app
from concord.api.deprecation import DEPRECATIONS, Deprecation, announce_fields, deprecated_route
from concord.hubconfig import Runtime
from concord.settings import Settings
from tests.security.support import bearer, key_for

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


@pytest.fixture
def client(database_url: str, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def test_the_customer_alias_announces_its_sunset_and_successor(client: TestClient) -> None:
    accepted = client.post("/api/v1/changes", json={
        "system": "salesforce", "entity": "account", "external_id": "001D", "fields": {"Name": "Deprecated Co"},
        "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "dep-1"}).json()
    customer = accepted["canonical_id"]
    old = client.get(f"/api/v1/customers/{customer}")
    assert old.status_code == 200
    since = datetime.fromtimestamp(int(old.headers["Deprecation"].removeprefix("@")), UTC)
    sunset = parsedate_to_datetime(old.headers["Sunset"])
    assert since.date() == date(2026, 12, 6) and sunset.date() == date(2027, 6, 30) and since < sunset
    assert old.headers["Link"] == f'</api/v1/records/{customer}>; rel="successor-version"'
    successor = client.get(f"/api/v1/records/{customer}")
    assert successor.json() == old.json() and "Deprecation" not in successor.headers
    # A path parameter outside latin-1 is percent-encoded in the header (it was a 500): unknown → 404.
    assert client.get("/api/v1/customers/%C4%80 x").status_code == 404
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/customers/{customer_id}"]["get"]
    assert operation["deprecated"] is True
    assert not client.get("/openapi.json").json()["paths"]["/api/v1/records/{record_id}"]["get"].get("deprecated")


def test_every_deprecation_is_in_the_changelog() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    deprecated = text.split("### Deprecated", 1)[1]
    for entry in DEPRECATIONS:
        assert f"`{entry.what}`" in deprecated, entry.what
        assert entry.sunset.isoformat() in deprecated and entry.since.isoformat() in deprecated


class _Body(BaseModel):
    name: str
    label: str | None = None  # deprecated in favour of name


def test_route_and_field_helpers_only_announce_what_was_used() -> None:
    gone = Deprecation(what="GET /old/{item}", since=date(2026, 1, 1), sunset=date(2026, 7, 1),
                       successor="/new/{item}")
    label = Deprecation(what="POST /items label", since=date(2026, 1, 1), sunset=date(2026, 7, 1),
                        successor="/items#name")
    app = FastAPI()

    @app.get("/old/{item}", dependencies=[Depends(deprecated_route(gone))])
    def old(item: str) -> dict[str, str]:
        return {"item": item}

    @app.post("/items")
    def items(body: _Body, response: Response) -> dict[str, str]:
        announce_fields(response, body, {"label": label})
        return {"name": body.name}

    client = TestClient(app)
    answer = client.get("/old/7")
    assert answer.headers["Link"] == '</new/7>; rel="successor-version"'
    assert answer.headers["Sunset"] == "Wed, 01 Jul 2026 00:00:00 GMT"
    assert "Deprecation" not in client.post("/items", json={"name": "a"}).headers
    assert client.post("/items", json={"name": "a", "label": "b"}).headers["Deprecation"] == "@1767225600"
