"""The webhook receiver: signatures, staleness, secret rollover, de-duplication, the FastAPI router, and real
deliveries from the Stripe twin through the fault proxy's duplicating and reordering webhook mode."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient

from concord.connectors.stripe import (
    InMemorySeenStore,
    PayloadError,
    SignatureError,
    WebhookEvent,
    WebhookReceiver,
    webhook_router,
)
from concord.sandbox.common import ServerHandle, free_port, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, WebhookPlan, create_app
from concord.sandbox.stripe import sign_payload
from tests.connectors.stripe.support import connector_for, running_twin

SECRET = "whsec_test_concord_receiver_0000000000000000"
NOW = 1_800_000_000


def _event(event_id: str = "evt_1", kind: str = "customer.updated", **obj: object) -> bytes:
    snapshot = {"id": "cus_Abc123", "object": "customer", "name": "Acme", "metadata": {}, **obj}
    body = {"id": event_id, "object": "event", "type": kind, "created": NOW - 5, "data": {"object": snapshot}}
    return json.dumps(body).encode()


def _receiver(secrets: str | list[str] = SECRET, now: float = NOW) -> WebhookReceiver:
    return WebhookReceiver(secrets, clock=lambda: now)


@dataclass
class Sink:
    events: list[WebhookEvent] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: WebhookEvent) -> None:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise RuntimeError("ingest is down")
            self.events.append(event)


# -- the receiver on its own ----------------------------------------------------------------------------------


def test_a_signed_event_becomes_a_record_once() -> None:
    receiver, sink, body = _receiver(), Sink(), _event(name="Acme Corp")
    header = sign_payload(SECRET, body, NOW)
    first = receiver.receive(body, header, sink)
    again = receiver.receive(body, sign_payload(SECRET, body, NOW + 1), sink)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert len(sink.events) == 1
    (record,) = sink.events[0].records
    assert (record.object, record.id, record.fields["name"], record.deleted) == ("customer", "cus_Abc123", "Acme Corp",
                                                                                  False)
    assert record.modified_at is not None and record.modified_at.timestamp() == NOW - 5


@pytest.mark.parametrize(
    ("header", "payload", "reason"),
    [
        (sign_payload(SECRET, _event(), NOW), _event(name="Tampered"), "mismatch"),
        (sign_payload("whsec_someone_else", _event(), NOW), _event(), "mismatch"),
        (sign_payload(SECRET, _event(), NOW - 301), _event(), "stale"),
        ("v1=deadbeef", _event(), "malformed"),
        (f"t={NOW}", _event(), "no_signature"),
        (None, _event(), "missing"),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header: str | None, payload: bytes, reason: str) -> None:
    sink = Sink()
    with pytest.raises(SignatureError) as refused:
        _receiver().receive(payload, header, sink)
    assert refused.value.reason == reason and refused.value.status == 400
    assert sink.events == []


def test_tolerance_is_300_seconds_and_the_clock_is_injected() -> None:
    body = _event()
    header = sign_payload(SECRET, body, NOW - 300)
    assert _receiver(now=NOW).verify(body, header).id == "evt_1"
    with pytest.raises(SignatureError, match="tolerance"):
        _receiver(now=NOW + 1).verify(body, header)


def test_signatures_made_by_the_official_library_verify() -> None:
    body = _event()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, NOW)
    assert _receiver().verify(body, header).id == "evt_1"
    # v0 is Stripe's test-only scheme with a fake secret: never accepted in place of v1.
    v0_only = header.replace("v1=", "v0=")
    with pytest.raises(SignatureError) as refused:
        _receiver().verify(body, v0_only)
    assert refused.value.reason == "no_signature"


def test_secret_rollover_both_ways() -> None:
    body, old, new = _event(), "whsec_old_secret_000000000000", SECRET
    # Stripe signs with both secrets while one is rolled: a receiver on the new secret accepts.
    both = sign_payload(old, body, NOW) + "," + sign_payload(new, body, NOW).split(",")[1]
    assert _receiver(new).verify(body, both).id == "evt_1"
    # A receiver configured with both secrets accepts a delivery signed by the old one alone.
    assert _receiver([new, old]).verify(body, sign_payload(old, body, NOW)).id == "evt_1"
    with pytest.raises(SignatureError):
        _receiver(new).verify(body, sign_payload(old, body, NOW))
    with pytest.raises(ValueError):
        WebhookReceiver([])


def test_a_failed_handler_releases_the_claim_for_the_redelivery() -> None:
    receiver, sink, body = _receiver(), Sink(fail_next=1), _event("evt_retry")
    with pytest.raises(RuntimeError):
        receiver.receive(body, sign_payload(SECRET, body, NOW), sink)
    assert "evt_retry" not in receiver.seen  # type: ignore[operator]
    outcome = receiver.receive(body, sign_payload(SECRET, body, NOW), sink)
    assert not outcome.duplicate and [e.id for e in sink.events] == ["evt_retry"]


def test_deleted_customers_and_foreign_event_types() -> None:
    receiver, sink = _receiver(), Sink()
    deleted = _event("evt_del", "customer.deleted")
    receiver.receive(deleted, sign_payload(SECRET, deleted, NOW), sink)
    charge = json.dumps({"id": "evt_ch", "object": "event", "type": "charge.succeeded", "created": NOW,
                         "data": {"object": {"id": "ch_1", "object": "charge"}}}).encode()
    receiver.receive(charge, sign_payload(SECRET, charge, NOW), sink)
    (record,) = sink.events[0].records
    assert record.deleted and record.fields["deleted"] is True and record.id == "cus_Abc123"
    assert sink.events[1].type == "charge.succeeded" and sink.events[1].records == []


def test_a_signed_body_that_is_no_event_is_refused() -> None:
    for body in (b"not json", b'{"object": "customer", "id": "cus_1"}', b'{"object": "event"}'):
        with pytest.raises(PayloadError):
            _receiver().receive(body, sign_payload(SECRET, body, NOW), Sink())


def test_seen_store_forgets_the_oldest_past_its_bound() -> None:
    seen = InMemorySeenStore(max_entries=3)
    assert [seen.claim(f"evt_{n}") for n in range(4)] == [True] * 4
    assert not seen.claim("evt_3") and seen.claim("evt_0")  # evt_0 was evicted, evt_3 is remembered


def test_concurrent_duplicates_are_processed_once() -> None:
    receiver, sink, body = _receiver(), Sink(), _event("evt_race")
    header = sign_payload(SECRET, body, NOW)
    threads = [threading.Thread(target=receiver.receive, args=(body, header, sink)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.id for e in sink.events] == ["evt_race"]


# -- the FastAPI router ---------------------------------------------------------------------------------------


@pytest.fixture
def router_client() -> Iterator[tuple[TestClient, Sink]]:
    sink = Sink()
    app = FastAPI()
    app.include_router(webhook_router(SECRET, sink, path="/hooks/stripe", max_body_bytes=4096))
    with TestClient(app) as client:
        yield client, sink


def test_router_answers_200_then_duplicate(router_client: tuple[TestClient, Sink]) -> None:
    client, sink = router_client
    body = _event("evt_router")
    header = {"Stripe-Signature": sign_payload(SECRET, body, int(time.time())), "Content-Type": "application/json"}
    first = client.post("/hooks/stripe", content=body, headers=header)
    second = client.post("/hooks/stripe", content=body, headers=header)
    assert (first.status_code, first.json()) == (200, {"received": True, "id": "evt_router", "duplicate": False})
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert len(sink.events) == 1


def test_router_refuses_bad_signatures_as_problem_json(router_client: tuple[TestClient, Sink]) -> None:
    client, sink = router_client
    body = _event()
    stale = sign_payload(SECRET, body, int(time.time()) - 3600)
    for headers, reason in [({"Stripe-Signature": stale}, "stale"), ({}, "missing")]:
        response = client.post("/hooks/stripe", content=body, headers=headers)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 400 and problem["reason"] == reason and problem["title"]
    assert sink.events == []


def test_router_limits_the_body_size(router_client: tuple[TestClient, Sink]) -> None:
    client, sink = router_client
    body = _event(description="x" * 5000)
    response = client.post("/hooks/stripe", content=body,
                           headers={"Stripe-Signature": sign_payload(SECRET, body, int(time.time()))})
    assert response.status_code == 413 and response.json()["reason"] == "too_large"
    assert sink.events == []


def test_router_answers_500_when_ingest_fails_and_the_retry_succeeds(router_client: tuple[TestClient, Sink]) -> None:
    client, sink = router_client
    sink.fail_next = 1
    body = _event("evt_flaky")
    headers = {"Stripe-Signature": sign_payload(SECRET, body, int(time.time()))}
    failed = client.post("/hooks/stripe", content=body, headers=headers)
    assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
    retried = client.post("/hooks/stripe", content=body, headers=headers)
    assert retried.status_code == 200 and retried.json()["duplicate"] is False
    assert [e.id for e in sink.events] == ["evt_flaky"]


# -- twin → fault proxy (duplicates, reordering) → receiver -------------------------------------------------------


@dataclass
class Arrivals:
    """Every delivery the receiver answered, in arrival order, and the events handed to ingest."""

    sink: Sink = field(default_factory=Sink)
    answered: list[str] = field(default_factory=list)


def _serve_receiver(secret: str, port: int, arrivals: Arrivals) -> ServerHandle:
    def on_event(event: WebhookEvent) -> None:
        arrivals.sink(event)

    app = FastAPI()
    app.include_router(webhook_router(secret, on_event, path="/hooks/stripe"))

    @app.middleware("http")
    async def record(request, call_next):  # type: ignore[no-untyped-def]
        body = await request.body()
        arrivals.answered.append(json.loads(body)["id"])
        return await call_next(request)

    return serve_in_thread(app, port=port)


def test_twin_deliveries_through_duplicating_reordering_proxy_are_processed_once() -> None:
    plan = FaultPlan(seed=11, paths=["/hooks/*"],
                     webhook=WebhookPlan(duplicate_p=0.3, max_duplicates=2, reorder_p=0.3, hold_back=4))
    with running_twin(webhook_sync=True, webhook_retry_base_s=0.0) as twin:
        receiver_port = free_port()
        proxy = serve_in_thread(create_app(f"http://127.0.0.1:{receiver_port}", plan))
        connector = connector_for(twin.url)
        arrivals = Arrivals()
        receiver: ServerHandle | None = None
        try:
            endpoint = connector.client.post(
                "/v1/webhook_endpoints",
                {"url": f"{proxy.base_url}/hooks/stripe", "enabled_events": ["customer.created", "customer.updated",
                                                                              "customer.deleted"]},
                "endpoint-1").body
            receiver = _serve_receiver(endpoint["secret"], receiver_port, arrivals)
            created = [connector.create("customer", {"name": f"Hook {n}", "metadata": {"concord_id": f"h{n}"}},
                                        f"hook-{n}") for n in range(25)]
            for record in created[:10]:
                connector.update("customer", record.id, {"name": f"{record.fields['name']} (renamed)"})
            for record in created[20:]:
                connector.client.delete(f"/v1/customers/{record.id}")
            assert httpx.post(f"{proxy.base_url}/__faults__/webhooks/flush").status_code == 200
            stats = httpx.get(f"{proxy.base_url}/__faults__/stats").json()["webhooks"]
        finally:
            connector.close()
            proxy.stop()
            if receiver is not None:
                receiver.stop()

        emitted = [e["id"] for e in reversed(twin.runtime.store.newest_first("event"))]
    processed = [event.id for event in arrivals.sink.events]
    assert len(emitted) == 25 + 10 + 5
    assert sorted(processed) == sorted(emitted)  # every event, each exactly once
    assert stats["duplicated"] > 0 and stats["held"] > 0
    answered = Counter(arrivals.answered)
    assert sum(answered.values()) == len(emitted) + stats["duplicated"]  # the duplicates did reach us...
    assert processed != emitted  # ...and the order was shuffled on the way
    deleted = {r.id for e in arrivals.sink.events for r in e.records if r.deleted}
    assert deleted == {record.id for record in created[20:]}
