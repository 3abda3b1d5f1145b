"""Inbound webhook security for every route that receives pushes: HMAC, freshness, replay, size, quiet logs.

Senders sign like Concord's own outbound webhooks (and Stripe): `Concord-Signature: t=<unix s>,v1=<hex
HMAC-SHA256(secret, "<t>.<raw body>")>`, several v1 while a secret is being rolled. A delivery is accepted when
a signature matches, the timestamp is within the tolerance (both ways: a timestamp far ahead would outlive the
nonce store), the body is within the size limit, and its nonce (the `Concord-Event-Id` header, else the
signature itself) was not seen before. Nonces are kept only as long as the tolerance, since an older timestamp
is refused anyway. Refusals are logged with source, reason and size — never the payload or the signature.

Mount as `delivery: VerifiedWebhook = Depends(guard)` on the route (a default: an Annotated naming a local
guard cannot be resolved under `from __future__ import annotations`). The guard carries `__concord_webhook__`,
which the route-coverage test uses to attack the route with unsigned, forged and oversized deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError

from concord.api.problems import Problem
from concord.security.tables import webhook_nonces

SIGNATURE_HEADER = "concord-signature"
ID_HEADER = "concord-event-id"
log = logging.getLogger(__name__)


class NonceStore:
    """Seen nonces in the database, so a replay is refused across restarts and across workers."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def claim(self, source: str, nonce: str) -> bool:
        """True for the first claim of `nonce`, False for every later one (atomic: primary key)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(webhook_nonces.insert().values(source=source, nonce=nonce[:128], seen_at=self.clock()))
            return True
        except IntegrityError:
            return False

    def release(self, source: str, nonce: str) -> None:
        """Forget a claim whose handling failed, so the sender's retry gets through."""
        with self.engine.begin() as conn:
            conn.execute(delete(webhook_nonces).where(webhook_nonces.c.source == source,
                                                      webhook_nonces.c.nonce == nonce[:128]))

    def prune(self, older_than_s: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(webhook_nonces).where(
                webhook_nonces.c.seen_at < self.clock() - older_than_s)).rowcount


@dataclass(frozen=True)
class VerifiedWebhook:
    source: str
    body: bytes
    nonce: str
    duplicate: bool  # already received: answer 2xx so the sender stops, but do not process again


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def parse_signature(header: str | None) -> tuple[int, list[str]] | None:
    if not header:
        return None
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    return None if timestamp is None or not signatures else (timestamp, signatures)


class WebhookGuard:
    """A FastAPI dependency verifying one source's deliveries; give several secrets during a roll."""

    __concord_webhook__ = True

    def __init__(self, source: str, secrets: Sequence[str], nonces: NonceStore, *, tolerance_s: float = 300.0,
                 max_body_bytes: int = 1024 * 1024, clock: Callable[[], float] = time.time) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty webhook secret is required")
        self.source = source
        self._secrets = list(secrets)
        self.nonces = nonces
        self.tolerance_s = tolerance_s
        self.max_body_bytes = max_body_bytes
        self.clock = clock

    def _refuse(self, status: int, reason: str, detail: str, size: int | None = None) -> Problem:
        log.warning("inbound webhook refused", extra={"webhook_source": self.source, "reason": reason,
                                                      "status": status, "size": size})
        return Problem(status, "Webhook refused", detail, reason=reason)

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._refuse(413, "too_large", f"body exceeds {self.max_body_bytes} bytes", int(declared))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._refuse(413, "too_large", f"body exceeds {self.max_body_bytes} bytes", size)
            chunks.append(chunk)
        return b"".join(chunks)

    def check(self, body: bytes, header: str | None, event_id: str | None) -> VerifiedWebhook:
        parsed = parse_signature(header)
        if parsed is None:
            raise self._refuse(401, "unsigned", "missing or malformed Concord-Signature header", len(body))
        timestamp, signatures = parsed
        expected = [sign(secret, timestamp, body) for secret in self._secrets]
        if not any(hmac.compare_digest(want, got) for want in expected for got in signatures):
            raise self._refuse(401, "mismatch", "no signature matches the body", len(body))
        if abs(self.clock() - timestamp) > self.tolerance_s:
            raise self._refuse(401, "stale", f"timestamp outside the {self.tolerance_s:.0f} s tolerance", len(body))
        nonce = event_id or signatures[0]
        duplicate = not self.nonces.claim(self.source, nonce)
        if duplicate:
            log.info("inbound webhook replayed", extra={"webhook_source": self.source, "reason": "replay"})
        return VerifiedWebhook(self.source, body, nonce, duplicate)

    async def __call__(self, request: Request) -> VerifiedWebhook:
        body = await self._body(request)
        return self.check(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(ID_HEADER))


class StripeSeenStore:
    """The Stripe receiver's `SeenStore` on the database nonce table (durable across restarts and workers)."""

    def __init__(self, nonces: NonceStore, source: str = "stripe") -> None:
        self._nonces = nonces
        self._source = source

    def claim(self, event_id: str) -> bool:
        return self._nonces.claim(self._source, event_id)

    def release(self, event_id: str) -> None:
        self._nonces.release(self._source, event_id)
