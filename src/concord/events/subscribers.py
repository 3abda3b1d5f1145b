"""Built-in subscribers that act inside the hub's database (exactly once with the processed-event ledger):
an outbound connector command (delivered by concord.delivery) and a workflow signal."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from concord.events import tables as t
from concord.events.envelope import EventEnvelope
from concord.events.routing import ConnectorCommandTarget, WorkflowSignalTarget
from concord.storage import tables as st
from concord.storage.repository import dumps


class MissingValue(ValueError):
    """A configured envelope path is absent from the event (the subscription's field map is wrong)."""


def resolve(envelope: EventEnvelope, path: str) -> Any:
    """`data.after`, `tenant`, `data.changes.name.after` … looked up in the envelope."""
    node: Any = envelope.model_dump(mode="json")
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MissingValue(f"{envelope.type} has no {path!r}")
        node = node[part]
    return node


def _message_id(event_id: str, scope: str) -> str:
    # Deterministic, so a replay or a redelivery maps to the same outbox row and is dropped as a duplicate.
    return hashlib.sha256(f"{event_id}|{scope}".encode()).hexdigest()[:32]


@dataclass
class ConnectorCommandSubscriber:
    target: ConnectorCommandTarget
    transactional = True

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        message_id = _message_id(event.event_id, f"{self.target.system}:{self.target.object}")
        if tx.execute(select(st.outbox.c.seq).where(st.outbox.c.message_id == message_id)).first() is not None:
            return
        fields = {name: resolve(event, path) for name, path in self.target.fields.items()}
        entity = str(event.data.get("entity", "account"))
        canonical_id = str(event.data.get("canonical_id", event.customer_key))
        payload: dict[str, Any] = {
            "op": "update", "system": self.target.system, "object": self.target.object, "entity": entity,
            "canonical_id": canonical_id, "external_id": None, "fields": fields, "canonical_fields": [],
            "mapping_version": f"event:{event.type}", "idempotency_key": f"{event.event_id}:{self.target.system}"}
        tx.execute(st.outbox.insert().values(
            message_id=message_id, tenant=event.tenant, kind="command", type=f"update_{entity}",
            target=self.target.system, entity=entity, canonical_id=canonical_id,
            correlation_id=event.correlation_id, causation_id=event.event_id, payload=dumps(payload),
            created_at=time.time(), attempts=0))

    def flush(self, tx: Connection) -> None:
        return None


@dataclass
class WorkflowSignalSubscriber:
    """Writes a `workflow_signals` row: the event, plus under `route` what the starter needs from the rule (the
    subscription, the request fields taken from the event, the processes to try and what to do on refusal)."""

    target: WorkflowSignalTarget
    subscription: str = ""
    transactional = True

    def route(self, event: EventEnvelope) -> dict[str, Any]:
        request = {**self.target.request_values,
                   **{name: resolve(event, path) for name, path in self.target.request.items()}}
        return {"subscription": self.subscription, "request": request, "otherwise": self.target.otherwise,
                "on_refusal": self.target.on_refusal}

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        w = t.workflow_signals.c
        seen = select(w.id).where(w.workflow == self.target.workflow, w.event_id == event.event_id)
        if tx.execute(seen).first() is not None:
            return
        payload = {**event.model_dump(mode="json"), "route": self.route(event)}
        tx.execute(t.workflow_signals.insert().values(
            workflow=self.target.workflow, signal=self.target.signal, event_id=event.event_id, tenant=event.tenant,
            customer_key=event.customer_key, payload=dumps(payload), created_at=time.time()))

    def flush(self, tx: Connection) -> None:
        return None
