"""Idempotent requests as Stripe documents them for API v1.

The first response to a key is saved once the endpoint has begun executing (so requests rejected by
authentication, rate limiting or parameter validation are not saved) and replayed, status and body, to every
retry with the same endpoint and parameters. Reusing a key with other parameters is an `idempotency_error`.
Keys may be pruned once they are 24 hours old; a pruned key runs as a new request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from concord.sandbox.stripe.errors import StripeApiError


@dataclass(frozen=True)
class SavedResponse:
    endpoint: str
    fingerprint: str
    status: int
    body: bytes
    request_id: str
    saved_at: float


def is_saved_status(status: int) -> bool:
    """Which outcomes count as "execution began": successes, card/not-found errors and server errors."""
    return status < 400 or status in (402, 404) or status >= 500


@dataclass
class IdempotencyStore:
    clock: Callable[[], float]
    ttl_s: float
    _saved: dict[str, SavedResponse] = field(default_factory=dict)
    _in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lookup(self, key: str, endpoint: str, fingerprint: str) -> SavedResponse | None:
        """The saved response to replay, None to execute, or a Stripe error for misuse of the key."""
        with self._lock:
            saved = self._saved.get(key)
            if saved is not None and self.clock() - saved.saved_at >= self.ttl_s:
                del self._saved[key]
                saved = None
            if saved is None:
                if key in self._in_flight:
                    raise StripeApiError(
                        409,
                        "There is currently another in-progress request using this Idempotent Key (that "
                        "probably means you submitted twice, and the other request is still going through): "
                        f"{key}. Please try again later.",
                        code="idempotency_key_in_use",
                    )
                self._in_flight.add(key)
                return None
        if saved.endpoint != endpoint:
            raise StripeApiError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{saved.endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                error_type="idempotency_error",
            )
        if saved.fingerprint != fingerprint:
            raise StripeApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                error_type="idempotency_error",
            )
        return saved

    def finish(self, key: str, saved: SavedResponse | None) -> None:
        with self._lock:
            self._in_flight.discard(key)
            if saved is not None:
                self._saved[key] = saved

    def reset(self) -> None:
        with self._lock:
            self._saved.clear()
            self._in_flight.clear()
