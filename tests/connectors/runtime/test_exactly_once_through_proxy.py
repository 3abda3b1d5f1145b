"""End to end: an HTTP connector behind the fault proxy still creates every record exactly once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from concord.connectors.base import Capabilities, ChangePage, Connector, ExternalRecord
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport
from concord.connectors.runtime.http import InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.retry import Retrier, RetryPolicy
from concord.connectors.runtime.writes import ExactlyOnceWriter
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, create_app


def contacts_app() -> FastAPI:
    app = FastAPI()
    rows: list[dict[str, Any]] = []

    @app.post("/contacts", status_code=201)
    async def create(payload: dict[str, Any]) -> dict[str, Any]:
        row = {"id": str(len(rows) + 1), **payload}
        rows.append(row)
        return row

    @app.get("/contacts")
    async def search(email: str | None = None) -> list[dict[str, Any]]:
        return [row for row in rows if email is None or row["email"] == email]

    return app


class HttpContacts:
    """A minimal HTTP connector: just enough of the protocol for creates and lookups."""

    name = "contacts"
    capabilities = Capabilities(objects=("contact",))

    def __init__(self, base_url: str, recorder: InMemoryCallRecorder) -> None:
        self._http = build_http_client(self.name, base_url, recorder)

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(self.name, request, exc) from exc
        error = error_for_response(self.name, response)
        if error is not None:
            raise error
        return response

    def _record(self, row: dict[str, Any]) -> ExternalRecord:
        return ExternalRecord(object="contact", id=row["id"], fields=row)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        rows = self._send(self._http.build_request("GET", "/contacts", params=criteria)).json()
        return [self._record(row) for row in rows][:limit]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        raise NotImplementedError

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        request = self._http.build_request("POST", "/contacts", json=fields)
        return self._record(self._send(request).json())

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        raise NotImplementedError

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        raise NotImplementedError

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        raise NotImplementedError

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def servers() -> Iterator[tuple[ServerHandle, ServerHandle]]:
    upstream = serve_in_thread(contacts_app())
    plan = FaultPlan(
        seed=4,
        rate_limit_p=0.1,
        error_p=0.1,
        drop_after_write_p=0.4,
        drop_disconnect_p=0.5,
        paths=["/contacts"],
    )
    proxy = serve_in_thread(create_app(upstream.base_url, plan))
    yield upstream, proxy
    proxy.stop()
    upstream.stop()


def test_every_contact_exactly_once_despite_lost_responses(servers: tuple[ServerHandle, ServerHandle]) -> None:
    upstream, proxy = servers
    connector = HttpContacts(proxy.base_url, InMemoryCallRecorder())
    assert isinstance(connector, Connector)
    retrier = Retrier(RetryPolicy(max_attempts=12), clock=ManualClock(), rng=random.Random(0))
    writer = ExactlyOnceWriter(connector, runner=retrier.run)
    outcomes = []
    for n in range(20):
        email = f"user{n}@example.com"
        outcomes.append(
            writer.create("contact", {"email": email}, idempotency_key=f"k-{n}", business_key={"email": email})
        )
    connector.close()

    rows = httpx.get(f"{upstream.base_url}/contacts").json()
    assert sorted(row["email"] for row in rows) == sorted(f"user{n}@example.com" for n in range(20))
    faults = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    # The scenario really happened: writes took effect while the client saw a failure...
    assert faults["writes_applied_but_failed"] >= 3
    assert faults["drops"].get("disconnect", 0) >= 1
    # ...and each of them was recovered by a lookup rather than duplicated.
    assert sum(1 for o in outcomes if o.via == "lookup") == faults["writes_applied_but_failed"]


def test_control_naive_retries_duplicate_under_the_same_faults(servers: tuple[ServerHandle, ServerHandle]) -> None:
    upstream, proxy = servers
    connector = HttpContacts(proxy.base_url, InMemoryCallRecorder())
    retrier = Retrier(RetryPolicy(max_attempts=12), clock=ManualClock(), rng=random.Random(0))
    for n in range(20):
        fields = {"email": f"user{n}@example.com"}
        retrier.run(partial(connector.create, "contact", fields, "unused"))
    connector.close()
    rows = httpx.get(f"{upstream.base_url}/contacts").json()
    faults = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    assert len(rows) == 20 + faults["writes_applied_but_failed"] > 20
