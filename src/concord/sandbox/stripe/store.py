"""In-memory state of the twin: objects by kind in creation order, the event log and webhook deliveries.

Objects are plain JSON-shaped dicts exactly as the API returns them; everything that hands one out to a
response or an event takes a deep copy first, so later mutations never leak into past snapshots.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from concord.sandbox.stripe.errors import no_such

# Stripe objects are heterogeneous JSON; their shape is documented per kind in the builders.
StripeObject: TypeAlias = dict[str, Any]

PREFIXES: dict[str, str] = {
    "customer": "cus",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "line_item": "il",
    "price": "price",
    "product": "prod",
    "event": "evt",
    "webhook_endpoint": "we",
}
KIND_BY_PREFIX: dict[str, str] = {prefix: kind for kind, prefix in PREFIXES.items()}

# (Request-Id, Idempotency-Key) of the API request being served, recorded on the events it causes.
current_request: ContextVar[tuple[str | None, str | None]] = ContextVar("stripe_twin_request", default=(None, None))

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def kind_of(object_id: str) -> str | None:
    return KIND_BY_PREFIX.get(object_id.split("_", 1)[0])


# (event, its serialised payload, the endpoints subscribed to its type)
EventListener: TypeAlias = Callable[[StripeObject, str, list[StripeObject]], None]


@dataclass
class Delivery:
    """One event sent (or being sent) to one endpoint."""

    event_id: str
    endpoint_id: str
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "event": self.event_id,
            "endpoint": self.endpoint_id,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered": self.delivered,
        }


@dataclass
class StripeStore:
    clock: Callable[[], float]
    api_version: str
    _objects: dict[str, dict[str, StripeObject]] = field(default_factory=dict)
    _listeners: list[EventListener] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    # Webhook secrets live beside the endpoints: Stripe reveals `secret` only in the create response.
    endpoint_secrets: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> int:
        return int(self.clock())

    def put(self, kind: str, obj: StripeObject) -> StripeObject:
        with self.lock:
            self._objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> StripeObject | None:
        with self.lock:
            return self._objects.get(kind, {}).get(object_id)

    def require(self, kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeObject:
        obj = self.get(kind, object_id)
        if obj is None or obj.get("deleted"):
            raise no_such(kind, object_id, param=param, status=status)
        return obj

    def remove(self, kind: str, object_id: str) -> None:
        with self.lock:
            self._objects.get(kind, {}).pop(object_id, None)

    def newest_first(self, kind: str) -> list[StripeObject]:
        with self.lock:
            return list(reversed(self._objects.get(kind, {}).values()))

    def counts(self) -> dict[str, int]:
        with self.lock:
            live = {
                kind: sum(1 for obj in objects.values() if not obj.get("deleted"))
                for kind, objects in self._objects.items()
            }
            live["deliveries"] = len(self.deliveries)
            return live

    def reset(self) -> None:
        with self.lock:
            self._objects.clear()
            self.deliveries.clear()
            self.endpoint_secrets.clear()

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def emit(self, event_type: str, obj: StripeObject, previous: dict[str, Any] | None = None) -> StripeObject:
        """Record an event holding a snapshot of `obj` and hand it to the webhook listeners."""
        request_id, idempotency_key = current_request.get()
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        targets = self.endpoints_for(event_type)
        event: StripeObject = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(targets),
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        self.put("event", event)
        # Serialised once so every delivery attempt signs exactly the same bytes.
        payload = json.dumps(event, indent=2)
        for listener in self._listeners:
            listener(event, payload, targets)
        return event

    def endpoints_for(self, event_type: str) -> list[StripeObject]:
        return [
            endpoint
            for endpoint in self.newest_first("webhook_endpoint")
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"])
        ]
