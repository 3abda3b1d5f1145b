"""Producing lifecycle events from other parts of the hub (matching → DuplicateDetected, delivery → SyncFailed,
workflows → CustomerOnboarded …): build a validated envelope and the outbox row that carries it, to be inserted
in the same transaction as the change that caused it; the outbox relay publishes it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from concord.events.envelope import EventEnvelope
from concord.events.registry import SchemaRegistry
from concord.ids import new_id


def new_event(registry: SchemaRegistry, event_type: str, tenant: str, customer_key: str, data: dict[str, Any],
              correlation_id: str, causation_id: str, occurred_at: datetime | None = None) -> EventEnvelope:
    """An event at the newest version of its schema; raises `SchemaViolation` naming the bad field."""
    envelope = EventEnvelope(event_id=new_id(), type=event_type, schema_version=registry.latest(event_type),
                             tenant=tenant, customer_key=customer_key, correlation_id=correlation_id,
                             causation_id=causation_id, occurred_at=occurred_at or datetime.now(UTC), data=data)
    registry.validate(envelope)
    return envelope


def outbox_row(envelope: EventEnvelope) -> dict[str, Any]:
    """The `outbox` row (kind = "event") for `envelope`, as the ingest path writes its own events."""
    return {"message_id": envelope.event_id, "tenant": envelope.tenant, "kind": "event", "type": envelope.type,
            "target": "lifecycle", "entity": str(envelope.data.get("entity", "account")),
            "canonical_id": str(envelope.data.get("canonical_id", envelope.customer_key)),
            "correlation_id": envelope.correlation_id, "causation_id": envelope.causation_id,
            "payload": envelope.model_dump_json(), "created_at": time.time(), "published_at": None, "attempts": 0,
            "next_attempt_at": None, "failed_at": None, "last_error": None}
