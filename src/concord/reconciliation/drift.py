"""What differs between one system's record and its golden record, and how each difference heals (pure).

Kinds: `missing` (the system should hold the customer and does not), `extra` (the system holds a record Concord
does not know), `field` (a value differs on a field both sides carry) and `deleted` (deleted or archived in
the system while still bound). A field drift heals by `push` when the system does not own the field (Concord's
value is written to it) and by `pull` when it does (the owner's value is ingested; the golden record is behind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from concord.canonical.fields import FieldValidationError, JsonValue, normalize_values
from concord.connectors.base import ExternalRecord
from concord.mappings.mapper import Mapper, MappingError, flatten_native
from concord.ownership.policy import OwnershipMode, RuleIndex


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


@dataclass
class FieldComparer:
    """Compares one system's records of one entity with golden values, under the tenant's ownership rules.

    Built for a million records a minute: the owner of each path is looked up once, raw values are compared
    first and only a difference pays for normalisation, and one outbound translation covers all pushed fields.
    """

    tenant: str
    system: str
    mapper: Mapper
    rules: RuleIndex
    # The system issues these records and nobody else writes them (a read-only invoice feed): a field it may
    # fill (`fill_if_empty`) is its own here, so its drift heals by pull, and nothing is pushed to it
    issuer: bool = False
    owners: dict[str, str] = field(default_factory=dict)
    owned: frozenset[str] = frozenset()  # paths the system owns (set up in __post_init__)
    pushable: tuple[str, ...] = ()  # paths Concord writes to the system and the system does not own
    native_of: dict[str, frozenset[str]] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # the fast path's native names, aligned with `paths`
    paths: tuple[str, ...] = ()
    enums: tuple[tuple[int, dict[str, Any]], ...] = ()
    push_only: tuple[int, ...] = ()
    slow: tuple[tuple[str, str], ...] = ()
    nested: bool = False

    @property
    def entity(self) -> str:
        return self.mapper.spec.entity

    def owner(self, path: str) -> str:
        found = self.owners.get(path)
        if found is None:
            found = self.owners[path] = self.rules.rule_for(self.tenant, self.entity, path).owner
        return found

    def _owns(self, path: str) -> bool:
        if self.owner(path) == self.system:
            return True
        return self.issuer and self.rules.rule_for(self.tenant, self.entity, path).mode is OwnershipMode.FILL_IF_EMPTY

    def __post_init__(self) -> None:
        paths = {fm.canonical for fm in self.mapper.spec.fields}
        self.owned = frozenset(p for p in paths if self._owns(p))
        self.pushable = () if self.issuer else tuple(sorted(p for p in self.mapper.outbound_paths
                                                            if p not in self.owned))
        self.native_of = {p: frozenset(fm.native for fm in self.mapper.spec.fields if fm.canonical == p and fm.outbound)
                          for p in self.pushable}
        # The fast path compares, in the system's own terms, every plain field the full comparison looks at:
        # the system's values and the golden ones (enums translated) as two tuples, built by C-level `map`.
        # Fields with a transform fall back to the full comparison whenever either side has a value.
        plan = [fm for fm in self.mapper.spec.fields if fm.reference is None and (
            (fm.inbound and fm.canonical in self.owned) or
            (fm.outbound and not fm.create_only and fm.canonical in self.native_of))]
        fast = [fm for fm in plan if not fm.transform]
        self.names = tuple(fm.native for fm in fast)
        self.paths = tuple(fm.canonical for fm in fast)
        self.enums = tuple((i, fm.values) for i, fm in enumerate(fast) if fm.values is not None)
        self.push_only = tuple(i for i, fm in enumerate(fast) if fm.canonical not in self.owned)
        self.slow = tuple((fm.native, fm.canonical) for fm in plan if fm.transform)
        self.nested = any("." in name for name in self.names)

    def same(self, golden: Mapping[str, JsonValue], record: ExternalRecord) -> bool:
        """True only when nothing can differ: every compared field equal in the system's own terms."""
        native = flatten_native(record.fields) if self.nested else record.fields
        got = tuple(map(native.get, self.names))
        want: list[Any] = list(map(golden.get, self.paths))
        for i, values in self.enums:
            if want[i] is not None:
                want[i] = values.get(want[i])
        for i in self.push_only:
            if want[i] is None:
                want[i] = got[i]  # Concord has nothing to push here: whatever the system holds is fine
        if tuple(want) != got:
            return False
        return not self.slow or all(native.get(name) is None and golden.get(path) is None for name, path in self.slow)

    def drifts(self, canonical_id: str, golden: Mapping[str, JsonValue], record: ExternalRecord) -> list[Drift]:
        if self.same(golden, record):
            return []
        try:
            reported = self.mapper.to_canonical(record.fields).values
            pulls = [(path, value) for path, value in reported.items()
                     if path in self.owned and golden.get(path) != value]
            # typed and spelled exactly as ingest would store them; only differences pay for it
            typed = normalize_values(self.entity, dict(pulls)) if pulls else {}
        except MappingError as exc:
            return [Drift(DriftKind.FIELD, Heal.NONE, canonical_id, record.id, exc.field, None, str(exc))]
        except FieldValidationError as exc:
            return [Drift(DriftKind.FIELD, Heal.NONE, canonical_id, record.id, exc.problems[0].field, None,
                          str(exc))]
        out = [Drift(DriftKind.FIELD, Heal.PULL, canonical_id, record.id, path, golden.get(path), value, self.system)
               for path, value in typed.items() if golden.get(path) != value]
        out.extend(self._pushes(canonical_id, golden, record))
        return out

    def _pushes(self, canonical_id: str, golden: Mapping[str, JsonValue], record: ExternalRecord) -> list[Drift]:
        pushed = {path: golden[path] for path in self.pushable if golden.get(path) is not None}
        if not pushed:
            return []  # Concord has nothing to say, or the system is the source of truth for all of it
        expected = flatten_native(self.mapper.to_native(pushed, create=False))
        native = flatten_native(record.fields)
        wrong = {name for name, want in expected.items() if native.get(name) != want}
        if not wrong:
            return []
        return [Drift(DriftKind.FIELD, Heal.PUSH, canonical_id, record.id, path, value,
                      {name: native.get(name) for name in sorted(self.native_of[path] & wrong)}, self.owner(path))
                for path, value in sorted(pushed.items()) if self.native_of[path] & wrong]
