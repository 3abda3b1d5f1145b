"""Dry-run of a mapping change: replay recent changes through the active and the proposed mapper.

Pure: the caller reads the change_log rows. For a change from the mapping's own system the inbound result is
compared (which canonical values Concord would take in, hence what every other system would then receive); for
a change from any other system the outbound payload the mapping's system would receive is compared.
"""

from __future__ import annotations

from typing import Any

import orjson

from concord.canonical.fields import FieldValidationError, JsonValue, normalize_values
from concord.hubconfig import INTERNAL_SYSTEMS
from concord.mappings.mapper import Mapper, MappingError, flatten_native
from concord.mappings.registry import MappingSet


def _field_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"old": old.get(k), "new": new.get(k)} for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k)}


def _inbound(mapper: Mapper, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(mapper.to_canonical(payload).values)
    except MappingError as exc:
        return {"<refused>": f"{exc.field}: {exc.reason}"}


def _outbound(mapper: Mapper, values: dict[str, JsonValue]) -> dict[str, Any]:
    try:
        return flatten_native(mapper.to_native(values, create=False))
    except MappingError as exc:
        return {"<refused>": f"{exc.field}: {exc.reason}"}


def canonical_values(mappings: MappingSet, row: dict[str, Any]) -> dict[str, JsonValue] | None:
    payload = orjson.loads(row["payload"])
    if row["system"] in INTERNAL_SYSTEMS:
        raw: dict[str, JsonValue] = payload
    else:
        source = mappings.get(row["system"], row["entity"], row["tenant"])  # the row's tenant's override
        if source is None:
            return None
        try:
            raw = dict(source.to_canonical(payload).values)
        except MappingError:
            return None
    try:
        return normalize_values(row["entity"], raw)
    except FieldValidationError:
        return None


def replay(mappings: MappingSet, old: Mapper, new: Mapper, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-level differences per replayed change; only changes whose result differs are listed."""
    system = new.spec.system
    diffs: list[dict[str, Any]] = []
    for row in rows:
        if row["system"] == system:
            payload = orjson.loads(row["payload"])
            diff = _field_diff(_inbound(old, payload), _inbound(new, payload))
            direction, target = "inbound", "concord"
        else:
            values = canonical_values(mappings, row)
            if values is None:
                continue
            diff = _field_diff(_outbound(old, values), _outbound(new, values))
            direction, target = "outbound", system
        if diff:
            diffs.append({"change_id": row["change_id"], "tenant": row["tenant"], "source": row["system"],
                          "canonical_id": row["canonical_id"], "direction": direction, "target": target,
                          "fields": diff})
    return {"replayed": len(rows), "differing": len(diffs), "old_version": old.spec.label,
            "new_version": new.spec.label, "changes": diffs}
