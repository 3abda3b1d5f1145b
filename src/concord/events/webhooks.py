"""Outbound webhooks: POST each event, signed with HMAC-SHA256, to an external URL; every attempt is logged.

Signature header (same scheme as Stripe's, which receivers already know how to check):
    Concord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
The timestamp is signed too, so a receiver can refuse replays older than its tolerance. `Concord-Event-Id` (also
sent as `Idempotency-Key`) lets a receiver drop the redeliveries that at-least-once delivery implies.
Retries and dead-lettering are the consumer engine's: a non-2xx answer or a transport error raises.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Connection, insert

from concord.events import tables as t
from concord.events.envelope import EventEnvelope
from concord.events.routing import WebhookTarget

SIGNATURE_HEADER = "Concord-Signature"


class WebhookFailed(RuntimeError):
    pass


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance_s and hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class WebhookSubscriber:
    subscription: str
    target: WebhookTarget
    secret: bytes
    client: httpx.Client
    url: str = ""  # resolved at build time (from `url` or the `url_env` variable)
    clock: Callable[[], float] = time.time
    _log: list[dict[str, Any]] = field(default_factory=list)

    transactional = False

    @property
    def endpoint(self) -> str:
        return self.url or str(self.target.url)

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        body = event.model_dump_json().encode()
        now = self.clock()
        headers = {"Content-Type": "application/json", "Concord-Event-Id": event.event_id,
                   "Concord-Event-Type": event.type, "Idempotency-Key": event.event_id,
                   SIGNATURE_HEADER: sign(self.secret, int(now), body)}
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = self.client.post(self.endpoint, content=body, headers=headers,
                                        timeout=self.target.timeout_s)
            status = response.status_code
            if not response.is_success:
                error = f"HTTP {status}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        # Logged in flush(), outside the savepoint that a failure rolls back: failed attempts stay on record.
        self._log.append({"subscription": self.subscription, "event_id": event.event_id,
                          "url": self.endpoint, "status_code": status, "error": error,
                          "duration_ms": (time.perf_counter() - started) * 1000, "attempted_at": now})
        if error is not None:
            raise WebhookFailed(error)

    def flush(self, tx: Connection) -> None:
        if self._log:
            tx.execute(insert(t.webhook_deliveries), self._log)
            self._log = []
