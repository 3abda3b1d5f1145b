"""Helpers for the event tests: events, recording subscribers, and a log wrapper that can 'crash'."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from concord.events.envelope import EventEnvelope, EventLog, StoredEvent

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_counter = itertools.count()


def changed(customer: str, seq: int, tenant: str = "default", event_type: str = "CustomerUpdated",
            fields: dict[str, Any] | None = None, event_id: str | None = None) -> EventEnvelope:
    """A v1 change event whose `seq` field records the customer's publish order."""
    changes = {name: {"before": None, "after": value} for name, value in (fields or {"seq": seq}).items()}
    n = next(_counter)
    return EventEnvelope(event_id=event_id or f"ev-{customer}-{seq}-{n}", type=event_type, schema_version=1,
                         tenant=tenant, customer_key=customer, correlation_id=f"corr-{n}", causation_id=f"chg-{n}",
                         occurred_at=_T0 + timedelta(seconds=n),
                         data={"entity": "account", "canonical_id": customer, "source_system": "salesforce",
                               "changes": changes})


class Boom(RuntimeError):
    pass


@dataclass
class Recorder:
    """Records what it handled; raises for event ids in `poison` (a fixable fault) or on first tries of `flaky`."""

    seen: list[EventEnvelope] = field(default_factory=list)
    poison: set[str] = field(default_factory=set)
    flaky: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)  # a projection: customer → last values
    lock: threading.Lock = field(default_factory=threading.Lock)

    transactional = False

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        if event.event_id in self.poison:
            raise Boom(f"cannot handle {event.event_id}")
        if event.event_id in self.flaky:
            self.flaky.discard(event.event_id)
            raise Boom(f"transient failure on {event.event_id}")
        with self.lock:
            self.seen.append(event)
            current = self.state.setdefault(event.customer_key, {})
            for path, change in event.data.get("changes", {}).items():
                current[path] = change["after"]

    def flush(self, tx: Connection) -> None:
        return None

    def order_of(self, customer: str) -> list[int]:
        return [e.data["changes"]["seq"]["after"] for e in self.seen if e.customer_key == customer]


class CrashBeforeAck:
    """Delegates to a log but never acknowledges: the process 'dies' between commit and ack."""

    def __init__(self, log: EventLog) -> None:
        self.inner = log
        self.partitions = log.partitions

    def append(self, events: Sequence[EventEnvelope]) -> int:
        return self.inner.append(events)

    def fetch(self, subscription: str, max_events: int, wait_s: float = 0.0) -> list[StoredEvent]:
        return self.inner.fetch(subscription, max_events, wait_s)

    def ack(self, subscription: str, events: Sequence[StoredEvent]) -> None:
        return None

    def nak(self, subscription: str, event: StoredEvent, delay_s: float) -> None:
        self.inner.nak(subscription, event, delay_s)

    def read(self, start: int | datetime, max_events: int) -> list[StoredEvent]:
        return self.inner.read(start, max_events)

    def close(self) -> None:
        return None
