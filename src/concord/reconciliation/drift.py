"""What differs between one system's record and its golden record, and how each difference heals (pure).

Kinds: `missing` (the system should hold the customer and does not), `extra` (the system holds a record Concord
does not know), `field` (a value differs on a field both sides carry) and `deleted` (deleted or archived in
the system while still bound). A field drift heals by `push` when the system does not own the field (Concord's
value is written to it) and by `pull` when it does (the owner's value is ingested; the golden record is behind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from concord.canonical.fields import FieldValidationError, JsonValue, normalize_values
from concord.connectors.base import ExternalRecord
from concord.mappings.mapper import Mapper, MappingError, flatten_native
from concord.ownership.policy import RuleIndex


class DriftKind(StrEnum):
    MISSING = "missing"
    EXTRA = "extra"
    FIELD = "field"
    DELETED = "deleted"


class Heal(StrEnum):
    PUSH = "push"  # outbound update of non-owned fields
    PULL = "pull"  # ingest the owner's record
    CREATE = "create"  # outbound create
    INGEST = "ingest"  # an unknown record goes through ingest (matching decides link, hold or create)
    UNBIND = "unbind"  # the system no longer has it: stop expecting it there
    NONE = "none"  # reported only (a record that does not map: fix the mapping or the data)


@dataclass(frozen=True, slots=True)
class Drift:
    kind: DriftKind
    heal: Heal
    canonical_id: str | None
    external_id: str | None
    field: str | None = None
    golden: JsonValue = None  # Concord's value
    system_value: Any = None  # the system's value (native for push drift, canonical for pull drift)
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "heal": self.heal.value, "canonical_id": self.canonical_id,
                "external_id": self.external_id, "field": self.field, "golden": self.golden,
                "system_value": self.system_value, "owner": self.owner}


def is_gone(record: ExternalRecord) -> bool:
    """Deleted, or archived the way systems say it (an inactive Tryton party, an archived HubSpot company)."""
    return record.deleted or record.fields.get("active") is False or record.fields.get("archived") is True


@dataclass(frozen=True)
class FieldComparer:
    """Compares one system's records of one entity with golden values, under the tenant's ownership rules."""

    tenant: str
    system: str
    mapper: Mapper
    rules: RuleIndex

    @property
    def entity(self) -> str:
        return self.mapper.spec.entity

    def owner(self, path: str) -> str:
        return self.rules.rule_for(self.tenant, self.entity, path).owner

    def drifts(self, canonical_id: str, golden: Mapping[str, JsonValue], record: ExternalRecord) -> list[Drift]:
        try:  # typed and spelled exactly as ingest would store them
            reported = normalize_values(self.entity, self.mapper.to_canonical(record.fields).values)
        except MappingError as exc:
            return [Drift(DriftKind.FIELD, Heal.NONE, canonical_id, record.id, exc.field, None, str(exc))]
        except FieldValidationError as exc:
            return [Drift(DriftKind.FIELD, Heal.NONE, canonical_id, record.id, exc.problems[0].field, None,
                          str(exc))]
        native = flatten_native(record.fields)
        out = [Drift(DriftKind.FIELD, Heal.PULL, canonical_id, record.id, path, golden.get(path), value, self.system)
               for path, value in reported.items() if self.owner(path) == self.system and golden.get(path) != value]
        out.extend(self._pushes(canonical_id, golden, native, record.id))
        return out

    def _pushes(self, canonical_id: str, golden: Mapping[str, JsonValue], native: Mapping[str, Any],
                external_id: str) -> list[Drift]:
        out = []
        for path in sorted(self.mapper.outbound_paths):
            value = golden.get(path)
            if value is None or self.owner(path) == self.system:
                continue  # Concord has nothing to say, or the system is the source of truth for it
            expected = flatten_native(self.mapper.to_native({path: value}, create=False))
            if expected and any(native.get(name) != want for name, want in expected.items()):
                actual = {name: native.get(name) for name in expected}
                out.append(Drift(DriftKind.FIELD, Heal.PUSH, canonical_id, external_id, path, value, actual,
                                 self.owner(path)))
        return out
