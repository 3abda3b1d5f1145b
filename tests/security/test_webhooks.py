"""Inbound webhooks: signature, freshness both ways, replay (durable), size limit, refusals logged quietly."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from concord.api.problems import install_problem_handlers
from concord.connectors.stripe.webhooks import WebhookReceiver, expected_signature, webhook_router
from concord.security.webhooks import NonceStore, StripeSeenStore, VerifiedWebhook, WebhookGuard, sign
from tests.security.test_route_coverage import WEBHOOK, declared_scope

SECRET, OLD_SECRET = "whsec_new", "whsec_old"
PAYLOAD = b'{"customer": "card 4242 4242 4242 4242"}'  # what must never reach the logs


def headers(body: bytes, secret: str = SECRET, at: float | None = None, event_id: str | None = "evt-1"
            ) -> dict[str, str]:
    stamp = int(time.time() if at is None else at)
    out = {"Concord-Signature": f"t={stamp},v1={sign(secret, stamp, body)}", "Content-Type": "application/json"}
    return out | ({"Concord-Event-Id": event_id} if event_id else {})


@pytest.fixture
def receiver(sqlite_engine: Engine) -> Iterator[tuple[TestClient, list[bytes]]]:
    received: list[bytes] = []
    guard = WebhookGuard("crm-push", [SECRET, OLD_SECRET], NonceStore(sqlite_engine), max_body_bytes=1024)
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/webhooks/crm")
    def push(delivery: VerifiedWebhook = Depends(guard)) -> dict[str, bool]:
        if not delivery.duplicate:
            received.append(delivery.body)
        return {"duplicate": delivery.duplicate}

    with TestClient(app) as client:
        yield client, received


def test_signed_delivery_is_taken_once_and_replays_are_answered_without_processing(
        receiver: tuple[TestClient, list[bytes]], sqlite_engine: Engine) -> None:
    client, received = receiver
    sent = headers(PAYLOAD)
    assert client.post("/webhooks/crm", content=PAYLOAD, headers=sent).json() == {"duplicate": False}
    assert client.post("/webhooks/crm", content=PAYLOAD, headers=sent).json() == {"duplicate": True}
    # a replay without the event id is caught by its signature; the old secret still works during a roll
    no_id = headers(PAYLOAD, OLD_SECRET, event_id=None)
    assert client.post("/webhooks/crm", content=PAYLOAD, headers=no_id).json() == {"duplicate": False}
    assert client.post("/webhooks/crm", content=PAYLOAD, headers=no_id).json() == {"duplicate": True}
    assert received == [PAYLOAD, PAYLOAD]
    assert not NonceStore(sqlite_engine).claim("crm-push", "evt-1")  # remembered in the database, across restarts


# Signed when the test runs, not when it is collected: a long suite would otherwise age the "future" stamp.
BAD_DELIVERIES: dict[str, Callable[[], dict[str, str]]] = {
    "none": lambda: {},
    "garbled": lambda: {"Concord-Signature": "t=abc,v1=00"},
    "wrong-secret": lambda: headers(PAYLOAD, "whsec_guess"),
    "old": lambda: headers(PAYLOAD, at=time.time() - 900),
    "future": lambda: headers(PAYLOAD, at=time.time() + 900),
    "other-body": lambda: headers(PAYLOAD + b" "),
}


@pytest.mark.parametrize(("sent", "reason", "status"), [
    ("none", "unsigned", 401),
    ("garbled", "unsigned", 401),
    ("wrong-secret", "mismatch", 401),
    ("old", "stale", 401),
    ("future", "stale", 401),
    ("other-body", "mismatch", 401),
])
def test_bad_deliveries_are_refused_and_logged_without_payload(
        receiver: tuple[TestClient, list[bytes]], caplog: pytest.LogCaptureFixture, sent: str,
        reason: str, status: int) -> None:
    client, received = receiver
    signed = BAD_DELIVERIES[sent]()
    with caplog.at_level(logging.INFO):
        response = client.post("/webhooks/crm", content=PAYLOAD, headers=signed)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason and received == []
    [record] = [r for r in caplog.records if r.getMessage() == "inbound webhook refused"]
    assert record.reason == reason and record.webhook_source == "crm-push"  # type: ignore[attr-defined]
    assert "4242" not in caplog.text and signed.get("Concord-Signature", "~").split("v1=")[-1] not in caplog.text


def test_oversized_body_is_refused_before_it_is_read(receiver: tuple[TestClient, list[bytes]]) -> None:
    client, received = receiver
    big = json.dumps({"x": "y" * 2000}).encode()
    response = client.post("/webhooks/crm", content=big, headers=headers(big))
    assert response.status_code == 413 and response.json()["reason"] == "too_large" and received == []


def test_webhook_routes_are_recognised_by_the_route_walk(sqlite_engine: Engine) -> None:
    guard = WebhookGuard("x", [SECRET], NonceStore(sqlite_engine))
    app = FastAPI()

    @app.post("/webhooks/x")
    def push(delivery: VerifiedWebhook = Depends(guard)) -> None:
        return None

    [route] = [r for r in app.router.routes if isinstance(r, APIRoute)]
    assert declared_scope(route) == WEBHOOK


def test_nonces_are_pruned_after_the_tolerance(sqlite_engine: Engine) -> None:
    clock = [1000.0]
    store = NonceStore(sqlite_engine, clock=lambda: clock[0])
    assert store.claim("s", "n1")
    clock[0] += 700
    assert store.prune(older_than_s=600) == 1 and store.claim("s", "n1")


def test_stripe_replays_are_refused_across_receivers_and_refusals_logged_quietly(
        sqlite_engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    seen = StripeSeenStore(NonceStore(sqlite_engine))
    body = json.dumps({"id": "evt_9", "object": "event", "type": "ping", "created": 1,
                       "data": {"object": {"object": "balance", "note": "4242"}}}).encode()
    stamp = int(time.time())
    header = f"t={stamp},v1={expected_signature('whsec_s', body, stamp)}"
    handled: list[str] = []
    first = WebhookReceiver("whsec_s", seen).receive(body, header, lambda e: handled.append(e.id))
    again = WebhookReceiver("whsec_s", seen).receive(body, header, lambda e: handled.append(e.id))  # a restart
    assert (first.duplicate, again.duplicate, handled) == (False, True, ["evt_9"])
    app = FastAPI()
    app.include_router(webhook_router("whsec_s", lambda e: None, seen=seen))
    with caplog.at_level(logging.WARNING), TestClient(app) as client:
        refused = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": f"t={stamp},v1=00"})
    assert refused.status_code == 400
    assert "stripe webhook refused" in caplog.text and "4242" not in caplog.text
