"""Outbound webhooks against a real HTTP receiver: signature, retries with backoff, the delivery log, DLQ."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError
from sqlalchemy import Engine, select

from concord.events import tables as t
from concord.events.consumer import Backoff, SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.hub import MissingSecret, build_runners
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.routing import RoutingConfig, WebhookTarget, load_routing
from concord.events.store import ConsumerStore
from concord.events.webhooks import SIGNATURE_HEADER, WebhookSubscriber, sign, verify
from concord.sandbox.common import serve_in_thread
from tests.events.support import changed

SECRET = b"whsec_test"


@dataclass
class Receiver:
    url: str
    fail_next: int = 0
    received: dict[str, bytes] = field(default_factory=dict)
    bad_signatures: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    app = FastAPI()
    state = Receiver(url="")

    @app.post("/hooks")
    async def hook(request: Request) -> Response:
        body = await request.body()
        if not verify(SECRET, request.headers.get(SIGNATURE_HEADER, ""), body, time.time()):
            state.bad_signatures += 1
            return Response(status_code=400)
        if state.fail_next > 0:
            state.fail_next -= 1
            return Response("busy", status_code=503)
        state.received.setdefault(request.headers["Concord-Event-Id"], body)  # de-duplicates on the event id
        return Response(status_code=204)

    handle = serve_in_thread(app)
    state.url = f"{handle.base_url}/hooks"
    yield state
    handle.stop()


def test_signature_roundtrip_and_tampering() -> None:
    header = sign(SECRET, 1_700_000_000, b'{"a":1}')
    assert verify(SECRET, header, b'{"a":1}', now=1_700_000_010)
    assert not verify(SECRET, header, b'{"a":2}', now=1_700_000_010)
    assert not verify(b"other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify(SECRET, header, b'{"a":1}', now=1_700_001_000)  # stale: a replayed request
    assert not verify(SECRET, "garbage", b"{}", now=0)


def test_webhook_retries_with_backoff_then_delivers_and_logs_every_attempt(
        receiver: Receiver, engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    events = [changed("c1", 0), changed("c1", 1), changed("c2", 0)]
    publish(log, registry, events)
    receiver.fail_next = 2
    now = [1000.0]
    target = WebhookTarget(kind="webhook", url=receiver.url, secret_env="K")
    with httpx.Client() as http:
        hook = WebhookSubscriber("hook", target, SECRET, http)
        runner = SubscriptionRunner("hook", log, engine, hook, registry, max_attempts=5,
                                    backoff=Backoff(base_s=10.0), clock=lambda: now[0])
        first = runner.run_once()
        # c1#0 gets the first 503 and c1#1 waits behind it; c2#0 gets the second 503
        assert (first.processed, first.parked) == (0, 3)
        now[0] += 5
        assert runner.run_once().retried == 0  # backoff not elapsed yet
        now[0] += 100
        runner.drain()
    assert receiver.bad_signatures == 0
    assert list(receiver.received) == [events[0].event_id, events[2].event_id, events[1].event_id]
    with engine.connect() as conn:
        attempts = conn.execute(select(t.webhook_deliveries.c.event_id, t.webhook_deliveries.c.status_code)
                                .order_by(t.webhook_deliveries.c.id)).all()
    assert [a.status_code for a in attempts].count(503) == 2
    assert sorted(a.event_id for a in attempts if a.status_code == 204) == sorted(e.event_id for e in events)


def test_a_webhook_that_keeps_failing_is_dead_lettered(receiver: Receiver, engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    publish(log, registry, [changed("c1", 0)])
    receiver.fail_next = 100
    target = WebhookTarget(kind="webhook", url=receiver.url, secret_env="K")
    with httpx.Client() as http:
        runner = SubscriptionRunner("hook", log, engine, WebhookSubscriber("hook", target, SECRET, http), registry,
                                    max_attempts=3, backoff=Backoff(base_s=0.0))
        assert runner.drain().dead_lettered == 1
    [letter] = ConsumerStore(engine).dead_letters("hook")
    assert letter.attempts == 3 and letter.error.startswith("WebhookFailed: HTTP 503: busy")


def test_customer_success_webhook_is_enabled_by_its_two_variables(receiver: Receiver, engine: Engine) -> None:
    """The bundled routing: CONCORD_WEBHOOK_CS_URL + _SECRET set → credit trouble reaches the CS tool, signed;
    either unset → the subscription is skipped (optional), nothing refuses to start."""
    registry = SchemaRegistry.default()
    routing = load_routing(None, set(registry.types()))
    target = routing.subscriptions["customer-success"].subscriber
    assert isinstance(target, WebhookTarget) and target.optional and target.url_env == "CONCORD_WEBHOOK_CS_URL"
    log = EmbeddedLog(engine, partitions=4)
    env = {"CONCORD_WEBHOOK_CS_URL": receiver.url, "CONCORD_WEBHOOK_CS_SECRET": SECRET.decode()}
    with httpx.Client() as http:
        for missing in env:
            partial = {k: v for k, v in env.items() if k != missing}
            assert "customer-success" not in build_runners(routing, log, engine, registry, http, environ=partial)
        runners = build_runners(routing, log, engine, registry, http, environ=env)
        base = changed("cs-1", 0)
        hold = base.model_copy(update={"type": "CreditHoldApplied", "event_id": "ev-cs-hold", "data": {
            "entity": "account", "canonical_id": "cs-1", "source_system": "tryton", "field": "credit_status",
            "before": "ok", "after": "hold"}})
        publish(log, registry, [hold, changed("cs-1", 1)])  # CustomerUpdated: not for customer success
        assert runners["customer-success"].drain().processed == 1
        for runner in runners.values():
            runner.close()
    assert list(receiver.received) == [hold.event_id] and receiver.bad_signatures == 0


def test_a_webhook_url_from_the_environment_is_checked(engine: Engine) -> None:
    routing = RoutingConfig.model_validate({"subscriptions": {"hook": {"events": ["*"], "subscriber": {
        "kind": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_KEY"}}}})
    with httpx.Client() as http:
        with pytest.raises(MissingSecret, match="HOOK_URL is not set"):
            build_runners(routing, EmbeddedLog(engine), engine, SchemaRegistry.default(), http,
                          environ={"HOOK_KEY": "k"})
        with pytest.raises(MissingSecret, match="HOOK_URL is not a URL"):
            build_runners(routing, EmbeddedLog(engine), engine, SchemaRegistry.default(), http,
                          environ={"HOOK_KEY": "k", "HOOK_URL": "not a url"})
    with pytest.raises(ValidationError, match="either url or url_env"):
        WebhookTarget.model_validate({"kind": "webhook", "secret_env": "K"})
