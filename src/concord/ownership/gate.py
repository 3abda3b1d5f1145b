"""The ownership gate: a pure function from (golden record, incoming change) to a field-level decision.

Invariant that makes the gate order-independent and idempotent: for every field the golden value is the
maximum, over all writes the gate accepted, of the key (authoritative, source time, system, value digest).
The owner's writes are authoritative; a non-owner's are not. Taking a maximum is commutative, associative
and idempotent, so any arrival order of the same changes yields the same record, and a replay changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from concord.canonical.fields import JsonValue
from concord.canonical.golden import FieldValue, GoldenRecord, Provenance, value_digest
from concord.canonical.lifecycle import LifecycleState, check_transition
from concord.frozen import rebuild
from concord.ownership.policy import FieldRule, OwnershipMode, RuleIndex

STEWARD = "steward"


class IncomingChange(NamedTuple):
    """Immutable (a NamedTuple: built once per ingested change, at a fraction of a frozen dataclass's cost)."""

    tenant: str
    entity: str
    system: str
    source_ts_us: int
    change_id: str
    values: dict[str, JsonValue]
    mapping_version: str | None = None
    approved_by: str | None = None  # set when a steward approved a pending non-owner value


@dataclass(frozen=True)
class FieldRejection:
    field: str
    value: JsonValue
    owner: str
    reason: str

    def __init__(self, field: str, value: JsonValue, owner: str, reason: str) -> None:
        object.__setattr__(self, "field", field)  # written out: decision 091
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "reason", reason)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass(frozen=True)
class PendingApproval:
    field: str
    value: JsonValue
    current: JsonValue
    owner: str
    system: str
    source_ts_us: int

    def __init__(self, field: str, value: JsonValue, current: JsonValue, owner: str, system: str,
                 source_ts_us: int) -> None:
        object.__setattr__(self, "field", field)  # written out: decision 091
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "current", current)
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "system", system)
        object.__setattr__(self, "source_ts_us", source_ts_us)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass
class GateDecision:
    applied: dict[str, JsonValue] = field(default_factory=dict)  # fields whose value changed
    previous: dict[str, JsonValue] = field(default_factory=dict)  # their values before
    refreshed: list[str] = field(default_factory=list)  # same value, newer provenance
    rejected: list[FieldRejection] = field(default_factory=list)
    pending: list[PendingApproval] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # older than what the record already holds
    echoes: list[str] = field(default_factory=list)  # Concord's own write reflected back
    unchanged: list[str] = field(default_factory=list)

    def __init__(self, applied: dict[str, JsonValue] | None = None, previous: dict[str, JsonValue] | None = None,
                 refreshed: list[str] | None = None, rejected: list[FieldRejection] | None = None,
                 pending: list[PendingApproval] | None = None, stale: list[str] | None = None,
                 echoes: list[str] | None = None, unchanged: list[str] | None = None) -> None:
        # Written out (decision 091); None stands for each field's empty default, a fresh one per decision.
        self.applied = {} if applied is None else applied
        self.previous = {} if previous is None else previous
        self.refreshed = [] if refreshed is None else refreshed
        self.rejected = [] if rejected is None else rejected
        self.pending = [] if pending is None else pending
        self.stale = [] if stale is None else stale
        self.echoes = [] if echoes is None else echoes
        self.unchanged = [] if unchanged is None else unchanged

    @property
    def writes_record(self) -> bool:
        return bool(self.applied or self.refreshed)


def _wins(candidate: FieldValue, current: FieldValue) -> bool:
    """candidate's key > current's key, hashing values only to break an exact tie (rare, and hashing is not)."""
    a = (candidate.authoritative, candidate.provenance.source_ts_us, candidate.provenance.system)
    b = (current.authoritative, current.provenance.source_ts_us, current.provenance.system)
    if a != b:
        return a > b
    return value_digest(candidate.value) > value_digest(current.value)


def outranks(candidate: FieldValue, current: FieldValue) -> bool:
    """The gate's order on field values, for whoever else must pick between two (merge survivorship)."""
    return _wins(candidate, current)


def provenance(change: IncomingChange) -> Provenance:
    """One per change: every field the change writes shares it (and the stored record lists it once)."""
    return Provenance(system=change.system, source_ts_us=change.source_ts_us, change_id=change.change_id,
                      mapping_version=change.mapping_version, approved_by=change.approved_by)


def _judge(record: GoldenRecord, change: IncomingChange, path: str, rule: FieldRule,
           decision: GateDecision, prov: Provenance) -> FieldValue | None:
    """Classify one field; return the FieldValue to store, or None when the record keeps what it has."""
    value = change.values[path]
    current = record.fields.get(path)
    is_owner = change.system == rule.owner or change.approved_by is not None
    if not is_owner and record.is_echo(change.system, path, value):
        decision.echoes.append(path)
        return None
    if not is_owner and rule.mode is not OwnershipMode.FILL_IF_EMPTY:
        # A non-owner reporting an empty field as empty says nothing (systems send whole records): no rejection.
        if (current.value if current is not None else None) == value:
            decision.unchanged.append(path)
        elif rule.mode is OwnershipMode.OWNER_ONLY:
            decision.rejected.append(FieldRejection(path, value, rule.owner, f"{path} is owned by {rule.owner}"))
        else:
            decision.pending.append(PendingApproval(path, value, None if current is None else current.value,
                                                    rule.owner, change.system, change.source_ts_us))
        return None
    candidate = FieldValue(value=value, provenance=prov, authoritative=is_owner)
    if current is not None and not _wins(candidate, current):
        (decision.unchanged if current.value == value else decision.stale).append(path)
        return None
    if (current.value if current is not None else None) == value:
        decision.refreshed.append(path)  # e.g. an owner stating a still-empty field: provenance, no change
    else:
        decision.applied[path] = value
        decision.previous[path] = None if current is None else current.value
    return candidate


def evaluate(record: GoldenRecord, change: IncomingChange, rules: RuleIndex) -> tuple[GoldenRecord, GateDecision]:
    """Decide every field of `change` and return the would-be record; `record` itself is not modified.

    Raises IllegalTransition when the change would move the lifecycle along a forbidden edge; nothing of the
    change applies then.
    """
    decision = GateDecision()
    updated: dict[str, FieldValue] = {}
    prov = provenance(change)
    for path in change.values:
        rule = rules.rule_for(change.tenant, change.entity, path)
        stored = _judge(record, change, path, rule, decision, prov)
        if stored is not None:
            updated[path] = stored
    if "lifecycle_state" in decision.applied:
        before, after = decision.previous["lifecycle_state"], decision.applied["lifecycle_state"]
        check_transition(None if before is None else LifecycleState(before),
                         None if after is None else LifecycleState(after))
    # The bookkeeping dicts are shared with `record`: GoldenRecord's methods replace them, never mutate.
    new_record = record.with_fields({**record.fields, **updated})
    for path in decision.echoes:
        new_record.forget_echo(change.system, path, change.values[path])
    return new_record, decision
