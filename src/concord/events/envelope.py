"""The event envelope every lifecycle event travels in, and the contract of an event log backend.

The outbox rows the ingest path writes (kind = "event") hold exactly this envelope as their payload.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    type: str = Field(pattern=r"^[A-Z][A-Za-z]+$")
    schema_version: int = Field(ge=1)
    tenant: str
    customer_key: str = Field(description="events of one customer are delivered in order")
    correlation_id: str
    causation_id: str = Field(description="the change (or event) that caused this one")
    occurred_at: AwareDatetime | datetime
    data: dict[str, Any]


class StoredEvent(BaseModel):
    """An event as a log holds it: its position in its partition and in the whole log."""

    model_config = ConfigDict(frozen=True)

    envelope: EventEnvelope
    partition: int
    offset: int  # position in the whole log (monotonic), usable as a replay point
    attempt: int = 1  # delivery attempt of this event to the reading consumer


def partition_of(customer_key: str, partitions: int) -> int:
    """Stable across processes and backends (unlike `hash`), so a customer always lands in one partition."""
    return zlib.crc32(customer_key.encode()) % partitions


class EventLog(Protocol):
    """An append-only log partitioned by customer key, with durable consumer positions per subscription.

    Implementations: embedded (SQLite/PostgreSQL tables) and NATS JetStream. Synchronous on purpose: the hub's
    ingest, delivery and CLI are synchronous, and the NATS backend runs asyncio on a private loop thread.

    - `append` is idempotent by event id and returns how many events were new.
    - `fetch` returns, for one subscription, unacknowledged events in log order within each partition; an event
      fetched but neither acked nor nak'd is delivered again after the backend's ack wait (or on restart).
    - `ack` records progress durably; `nak` asks for redelivery after `delay_s`.
    - `read` scans the log from an offset or a time without touching any subscription (replay).
    """

    partitions: int

    def append(self, events: Sequence[EventEnvelope]) -> int: ...

    def fetch(self, subscription: str, max_events: int, wait_s: float = 0.0) -> list[StoredEvent]: ...

    def ack(self, subscription: str, events: Sequence[StoredEvent]) -> None: ...

    def nak(self, subscription: str, event: StoredEvent, delay_s: float) -> None: ...

    def read(self, start: int | datetime, max_events: int) -> list[StoredEvent]: ...

    def close(self) -> None: ...
