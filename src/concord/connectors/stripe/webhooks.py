"""Receiving Stripe webhooks: verify the signature, drop duplicates, turn events into `ExternalRecord`s.

Stripe signs each delivery with `Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX]` where v1 is
HMAC-SHA256(endpoint secret, "TIMESTAMP.RAW_BODY"); while a secret is being rolled, one v1 per live secret is
sent, and any match is enough. Deliveries older than the tolerance (300 s, as the official libraries default)
are refused as possible replays. Stripe delivers at least once and in no guaranteed order, so the receiver
claims each event id in a seen-store before handing it on, and every record carries the event's `created`
as `modified_at`, which lets ingest drop a snapshot older than what it already holds.

`webhook_router(secret, on_event)` mounts this on FastAPI: 200 once handled (or already handled), 400
problem+json for a bad signature or body, 413 past the size limit, 500 when `on_event` fails — which releases
the claim, so Stripe's retry is processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from concord.connectors.base import ConnectorError, ExternalRecord
from concord.connectors.stripe.config import SYSTEM
from concord.connectors.stripe.objects import record_from_event

PROBLEM = "application/problem+json"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_TOLERANCE_S = 300.0
SCHEME = "v1"  # v0 entries are test-mode signatures with a fake secret and must never be trusted
logger = logging.getLogger(__name__)


class WebhookError(ConnectorError):
    """A delivery Concord refuses; `reason` is a stable code, `status` the HTTP answer it deserves."""

    status = 400

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(SYSTEM, message)
        self.reason = reason


class SignatureError(WebhookError):
    """Signature header missing, malformed, not matching the body, or too old (`reason` says which)."""


class PayloadError(WebhookError):
    """The signed body is not a Stripe event."""


class PayloadTooLarge(WebhookError):
    status = 413


class SeenStore(Protocol):
    """Which event ids were taken for processing. `claim` must be atomic: True only for the first caller."""

    def claim(self, event_id: str) -> bool: ...

    def release(self, event_id: str) -> None: ...


class InMemorySeenStore:
    """Claims in memory, oldest forgotten past `max_entries` (Stripe retries a delivery for up to 3 days)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def claim(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            while len(self._ids) > self._max:
                self._ids.popitem(last=False)
            return True

    def release(self, event_id: str) -> None:
        with self._lock:
            self._ids.pop(event_id, None)

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: datetime | None
    records: list[ExternalRecord]  # empty for event types Concord does not ingest
    payload: dict[str, Any]


@dataclass(frozen=True)
class WebhookOutcome:
    event: WebhookEvent
    duplicate: bool


EventHandler = Callable[[WebhookEvent], None]


def parse_event(payload: bytes) -> WebhookEvent:
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise PayloadError("malformed", "body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise PayloadError("not_an_event", "body is not a Stripe event object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise PayloadError("not_an_event", "event without id or type")
    created = event.get("created")
    stamp = datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None
    record = record_from_event(event)
    return WebhookEvent(event_id, event_type, stamp, [record] if record is not None else [], event)


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """`t=TIMESTAMP,v1=HEX,...` → (timestamp, v1 signatures); unknown schemes are skipped."""
    if not header:
        raise SignatureError("missing", "no Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("malformed", "Stripe-Signature header has no timestamp")
    if not signatures:
        raise SignatureError("no_signature", f"Stripe-Signature header has no {SCHEME} signature")
    return timestamp, signatures


def expected_signature(secret: str, payload: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


class WebhookReceiver:
    """Verification and de-duplication, without any web framework. Give several secrets during a roll."""

    def __init__(
        self,
        secrets: str | Sequence[str],
        seen: SeenStore | None = None,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = [secrets] if isinstance(secrets, str) else list(secrets)
        if not self._secrets or not all(self._secrets):
            raise ValueError("at least one non-empty webhook signing secret is required")
        self.seen: SeenStore = seen if seen is not None else InMemorySeenStore()
        self._tolerance_s = tolerance_s
        self._clock = clock

    def verify(self, payload: bytes, header: str | None) -> WebhookEvent:
        """The event in a correctly signed, fresh delivery; `SignatureError` / `PayloadError` otherwise."""
        timestamp, signatures = parse_signature_header(header)
        expected = [expected_signature(secret, payload, timestamp) for secret in self._secrets]
        # compare_digest on every pair: how far a forged signature matched must not show in the timing.
        if not any(hmac.compare_digest(want, got) for want in expected for got in signatures):
            raise SignatureError("mismatch", "no signature matches the payload")
        # Like the official libraries, only an old timestamp is refused: a sender clock ahead is no replay.
        if self._tolerance_s > 0 and timestamp < self._clock() - self._tolerance_s:
            raise SignatureError("stale", f"timestamp {timestamp} is outside the {self._tolerance_s:.0f} s tolerance")
        return parse_event(payload)

    def receive(self, payload: bytes, header: str | None, on_event: EventHandler) -> WebhookOutcome:
        """Verify, claim, hand on. A failing `on_event` releases the claim so a redelivery gets through."""
        event = self.verify(payload, header)
        if not self.seen.claim(event.id):
            return WebhookOutcome(event, duplicate=True)
        try:
            on_event(event)
        except BaseException:
            self.seen.release(event.id)
            raise
        return WebhookOutcome(event, duplicate=False)


def _problem(status: int, title: str, detail: str, reason: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "reason": reason}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("too_large", f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("too_large", f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_router(
    secret: str | Sequence[str],
    on_event: EventHandler,
    *,
    path: str = "/webhooks/stripe",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    seen: SeenStore | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """A router with one POST route at `path` that feeds verified, first-seen events to `on_event`."""
    receiver = WebhookReceiver(secret, seen, tolerance_s, clock)
    router = APIRouter()

    async def receive(request: Request) -> Response:
        try:
            body = await read_limited(request, max_body_bytes)
            header = request.headers.get("Stripe-Signature")
            outcome = await run_in_threadpool(receiver.receive, body, header, on_event)
        except SignatureError as error:
            # Logged without the payload or the signature: only what tells a probe from a misconfiguration.
            logger.warning("stripe webhook refused", extra={"reason": error.reason, "status": 400})
            return _problem(400, "Invalid Stripe webhook signature", error.message, error.reason)
        except WebhookError as error:
            logger.warning("stripe webhook refused", extra={"reason": error.reason, "status": error.status})
            return _problem(error.status, "Unacceptable Stripe webhook", error.message, error.reason)
        except Exception:
            # Not 2xx, so Stripe retries later; the claim was released and the retry will be processed.
            logger.exception("stripe webhook handler failed")
            return _problem(500, "Webhook handler failed", "the event was not processed; retry later", "handler")
        return JSONResponse({"received": True, "id": outcome.event.id, "duplicate": outcome.duplicate})

    router.add_api_route(path, receive, methods=["POST"], include_in_schema=False)
    return router
