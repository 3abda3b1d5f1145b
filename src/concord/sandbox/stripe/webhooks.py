"""Stripe webhook signatures, pure functions shared by the twin (signing) and Concord's connector (verifying).

`Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...][,v0=...]` where each v1 is
HMAC-SHA256(endpoint secret, f"{t}.{raw body}"). Several v1 entries appear while a secret is being rolled;
any one matching is enough. Like the official libraries, only timestamps older than the tolerance are
rejected (a clock slightly ahead of ours is not an attack).
"""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_S = 300
SCHEME = "v1"


class WebhookSignatureError(ValueError):
    """The header is missing, malformed, does not match the payload, or is too old."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _as_text(payload: str | bytes) -> str:
    return payload.decode("utf-8") if isinstance(payload, bytes) else payload


def compute_signature(secret: str, payload: str | bytes, timestamp: int) -> str:
    signed = f"{timestamp}.{_as_text(payload)}".encode()
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(secret: str, payload: str | bytes, timestamp: int) -> str:
    """The full `Stripe-Signature` header value for `payload` sent at `timestamp`."""
    return f"t={timestamp},{SCHEME}={compute_signature(secret, payload, timestamp)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError("malformed", "Unable to extract timestamp from header") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError("malformed", "Unable to extract timestamp and signatures from header")
    if not signatures:
        raise WebhookSignatureError("no_signature", f"No signatures found with expected scheme {SCHEME}")
    return timestamp, signatures


def verify_signature(
    payload: str | bytes,
    header: str | None,
    secret: str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check `header` against `payload`; return the signed timestamp or raise `WebhookSignatureError`."""
    if not header:
        raise WebhookSignatureError("missing", "No Stripe-Signature header value was provided")
    if not secret:
        raise WebhookSignatureError("no_secret", "No webhook secret value was provided")
    timestamp, signatures = parse_header(header)
    expected = compute_signature(secret, payload, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureError("mismatch", "No signatures found matching the expected signature for payload")
    current = time.time() if now is None else now
    if tolerance_s > 0 and timestamp < current - tolerance_s:
        raise WebhookSignatureError("stale", f"Timestamp outside the tolerance zone ({timestamp})")
    return timestamp
