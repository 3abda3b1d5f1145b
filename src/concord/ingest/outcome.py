"""What a processed change leaves behind: its public result, its change-log row and its event rows."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from pydantic import BaseModel

from concord.canonical.golden import GoldenRecord, us_to_ts
from concord.events.derive import DerivedEvent
from concord.ids import new_id
from concord.ingest.models import ChangePublic, ChangeStatus, FieldIssue
from concord.ingest.prepare import PreparedChange
from concord.ownership.gate import GateDecision
from concord.storage.repository import dumps

_Model = TypeVar("_Model", bound=BaseModel)
EVENT_SCHEMA_VERSION = 1
OUTBOX_DELIVERY_STATE = {"attempts": 0}  # the other delivery columns start NULL (tables.NULL_AT_INSERT)
QUEUED_ATTEMPTS = OUTBOX_DELIVERY_STATE["attempts"]  # the same, for the writer's tuple rows


def _status(decision: GateDecision) -> ChangeStatus:
    if decision.applied:
        return ChangeStatus.PARTIAL if decision.rejected or decision.pending else ChangeStatus.APPLIED
    if decision.pending:
        return ChangeStatus.PENDING
    if decision.rejected:
        return ChangeStatus.REJECTED
    return ChangeStatus.NO_OP


_SET_BY_CHANGE_PUBLIC = frozenset(ChangePublic.model_fields) - {"review_id"}
_FIELD_ISSUE_FIELDS = frozenset(FieldIssue.model_fields)


def _construct(cls: type[_Model], values: dict[str, Any], fields_set: frozenset[str]) -> _Model:
    """`cls.model_construct(**values)` without its per-field loop over aliases and defaults (~15% of the writer's
    Python per change, profiled): these models have no aliases, no extras, no private attributes and no
    post-init, `values` holds every field, and every value is typed already. tests/ingest/test_outcome.py
    pins that the result equals model_construct's."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def change_public(p: PreparedChange, canonical_id: str, created: bool, decision: GateDecision,
                  commands: int) -> ChangePublic:
    # constructed, not validated: every value here is already typed, and this runs once per change
    rejected = [_construct(FieldIssue, {"field": r.field, "reason": r.reason}, _FIELD_ISSUE_FIELDS)
                for r in decision.rejected]
    return _construct(ChangePublic, {
        "change_id": p.change_id, "canonical_id": canonical_id, "status": _status(decision), "created": created,
        "applied": sorted(decision.applied), "rejected": rejected, "pending": [a.field for a in decision.pending],
        "stale": decision.stale, "echoes": decision.echoes, "mapping_version": p.mapping_version,
        "correlation_id": p.correlation_id, "outbound_commands": commands, "replayed": False, "review_id": None},
        _SET_BY_CHANGE_PUBLIC)


def change_row(p: PreparedChange, canonical_id: str, result: ChangePublic, decision: GateDecision) -> tuple[Any, ...]:
    """The change-log row, in CHANGE_LOG_COLUMNS order (decision 091; tests/ingest/test_outcome.py pins it)."""
    return (p.change_id, p.tenant, p.idempotency_key, p.correlation_id, p.system, p.entity, p.external_id,
            canonical_id, p.source_ts_us, time.time(), p.mapping_version, result.status.value, len(decision.rejected),
            len(decision.pending), dumps(p.request.fields), decision_json(result))


def decision_json(result: ChangePublic) -> str:
    """`result.model_dump_json()`, byte for byte, by orjson from the model's own dict: pydantic's serializer
    walks the schema and cost twice as much, once per change (tests/ingest/test_outcome.py pins the bytes)."""
    values = result.__dict__
    if values["rejected"]:
        values = {**values, "rejected": [issue.__dict__ for issue in values["rejected"]]}
    return dumps(values)


def customer_key(record: GoldenRecord) -> str:
    """Events are ordered per customer: an account is its own key, other entities follow their account."""
    account = record.value("account_id")
    return record.id if record.entity == "account" or not account else str(account)


def event_rows(p: PreparedChange, record: GoldenRecord, events: list[DerivedEvent]) -> list[tuple[Any, ...]]:
    """The outbox rows of the change's events, in OUTBOX_COLUMNS order (decision 091)."""
    if not events:
        return []
    # Shared by every event of the change: computed once, not per event. The datetime itself goes into the
    # envelope: orjson writes a UTC datetime as the same text `isoformat()` gives, at a sixth of its cost
    # (tests/ingest/test_outcome.py pins the text).
    key, occurred_at, now = customer_key(record), us_to_ts(p.source_ts_us), time.time()
    rows = []
    for event in events:
        event_id = new_id()
        envelope = {"event_id": event_id, "type": event.type, "schema_version": EVENT_SCHEMA_VERSION,
                    "tenant": record.tenant, "customer_key": key,
                    "correlation_id": p.correlation_id, "causation_id": p.change_id,
                    "occurred_at": occurred_at, "data": event.data}
        rows.append((event_id, record.tenant, "event", event.type, "lifecycle", record.entity, record.id,
                     p.correlation_id, p.change_id, dumps(envelope), now, QUEUED_ATTEMPTS))
    return rows
