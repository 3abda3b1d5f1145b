"""HubSpot CRM objects as Concord reads and writes them: property names and write values in their accepted
spellings, search and change-capture request bodies, the change cursor, records built from HubSpot's
SimplePublicObject and the per-input results of batch calls. Pure: no client, no I/O (the connector in
`resources` does the calls; its docstring documents the record shape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from concord.connectors.base import ConnectorError, DataRejected, ExternalRecord
from concord.connectors.hubspot.client import JsonObject
from concord.connectors.hubspot.config import CREATED_PROPERTY, OBJECTS, RECORD_ID_PROPERTY, SYSTEM, ObjectSpec

_RECORD_KEYS = frozenset({"id", "createdAt", "updatedAt", "archived", "archivedAt"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class BatchOutcome:
    """Per-input results of a bulk call, keyed as the caller keyed the inputs."""

    records: dict[str, ExternalRecord] = field(default_factory=dict)
    errors: dict[str, ConnectorError] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch call: the caller's key for it and the JSON HubSpot gets."""

    key: str
    payload: JsonObject


def object_path(obj: str) -> str:
    return f"/crm/v3/objects/{obj}"


# -- properties -----------------------------------------------------------------------------------------
def property_name(name: str) -> str:
    """`properties.name` → `name`; `id` → `hs_object_id`."""
    plain = name.removeprefix("properties.")
    return RECORD_ID_PROPERTY if plain == "id" else plain


def write_properties(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The property values in `fields`, whichever of the accepted spellings they use (`resources` docstring)."""
    found: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "properties" and isinstance(value, Mapping):
            found.update({str(k): v for k, v in value.items()})
        elif key not in _RECORD_KEYS:
            found[key.removeprefix("properties.")] = value
    return found


def upsert_inputs(items: Mapping[str, Mapping[str, Any]], prop: str) -> list[BatchInput]:
    """`/batch/upsert` inputs keyed by the value of the unique property `prop` (not written as a value too)."""
    inputs = []
    for external_id, fields in items.items():
        values = {k: v for k, v in write_properties(fields).items() if k != prop}
        inputs.append(BatchInput(external_id, {"id": external_id, "idProperty": prop, "properties": values}))
    return inputs


def property_key(prop: str) -> Callable[[JsonObject], str | None]:
    """The key of a batch result: its value of property `prop`."""

    def key_of(raw: JsonObject) -> str | None:
        value = (raw.get("properties") or {}).get(prop)
        return None if value is None else str(value)

    return key_of


# -- search and change capture --------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _criterion(name: str, value: Any) -> JsonObject:
    prop = property_name(name)
    if value is None:
        return {"propertyName": prop, "operator": "NOT_HAS_PROPERTY"}
    if isinstance(value, list | tuple | set | frozenset):
        return {"propertyName": prop, "operator": "IN", "values": [_text(v) for v in value]}
    return {"propertyName": prop, "operator": "EQ", "value": _text(value)}


def search_body(criteria: Mapping[str, Any], properties: Iterable[str], limit: int) -> JsonObject:
    """A search for records matching every criterion (EQ; a list means IN, None means unset), by id."""
    filters = [_criterion(name, value) for name, value in criteria.items()]
    return {
        "filterGroups": [{"filters": filters}] if filters else [],
        "sorts": [{"propertyName": RECORD_ID_PROPERTY, "direction": "ASCENDING"}],
        "properties": list(properties),
        "limit": limit,
    }


@dataclass(frozen=True)
class ChangeCursor:
    """Everything up to (`ts` ms, record `last_id`) in (modification stamp, id) order was delivered."""

    ts: int = 0
    last_id: int = 0

    def encode(self) -> str:
        return f"{self.ts}:{self.last_id}"

    @classmethod
    def decode(cls, cursor: str | None) -> ChangeCursor:
        if not cursor:
            return cls()
        ts, _, last_id = cursor.partition(":")
        if not (ts.isdigit() and last_id.isdigit()):
            message = f"not a HubSpot change cursor: {cursor!r}"
            raise DataRejected(SYSTEM, message, field="cursor", code="INVALID_CURSOR")
        return cls(int(ts), int(last_id))

    def after(self, stamped: list[tuple[int, int]]) -> ChangeCursor:
        """The cursor past `stamped` (ts, id) pairs, which arrive in ascending stamp order."""
        position = self
        for ts, record_id in stamped:
            if (ts, record_id) > (position.ts, position.last_id):
                position = ChangeCursor(ts, record_id)
        return position


def changes_body(spec: ObjectSpec, position: ChangeCursor, by_id: bool, properties: Iterable[str],
                 limit: int) -> JsonObject:
    """A search past `position`: (stamp = T and id > I) or stamp > T by stamp, or only the first by id."""
    stamp = spec.modified_property
    run = [
        {"propertyName": stamp, "operator": "EQ", "value": str(position.ts)},
        {"propertyName": RECORD_ID_PROPERTY, "operator": "GT", "value": str(position.last_id)},
    ]
    groups = [{"filters": run}]
    if not by_id:
        groups.append({"filters": [{"propertyName": stamp, "operator": "GT", "value": str(position.ts)}]})
    return {
        "filterGroups": groups,
        "sorts": [{"propertyName": RECORD_ID_PROPERTY if by_id else stamp, "direction": "ASCENDING"}],
        "properties": list(properties),
        "limit": limit,
    }


# -- records --------------------------------------------------------------------------------------------
def _epoch_ms(stamp: Any) -> int | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return int(stamp) if stamp.isdigit() else None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def record_stamp(spec: ObjectSpec, record: ExternalRecord) -> int:
    """The record's modification stamp in epoch ms (its modified property, else `updatedAt`, else 0)."""
    ms = _epoch_ms(record.fields["properties"].get(spec.modified_property))
    return ms if ms is not None else _epoch_ms(record.fields.get("updatedAt")) or 0


def to_record(obj: str, raw: Mapping[str, Any], read_properties: Iterable[str]) -> ExternalRecord:
    """The record of one SimplePublicObject, its properties limited to `read_properties` and system stamps."""
    spec = OBJECTS[obj]
    allowed = {*read_properties, RECORD_ID_PROPERTY, CREATED_PROPERTY}
    properties = {k: v for k, v in (raw.get("properties") or {}).items() if k in allowed}
    record_id = str(raw.get("id"))
    fields = {
        "id": record_id,
        "properties": properties,
        "createdAt": raw.get("createdAt"),
        "updatedAt": raw.get("updatedAt"),
        "archived": bool(raw.get("archived", False)),
    }
    ms = _epoch_ms(properties.get(spec.modified_property)) or _epoch_ms(raw.get("updatedAt"))
    modified = None if ms is None else _EPOCH + timedelta(milliseconds=ms)
    return ExternalRecord(object=obj, id=record_id, fields=fields, modified_at=modified,
                          deleted=fields["archived"])
