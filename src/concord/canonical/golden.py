"""The golden record: the current best value of every field, each with its provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from concord.canonical.fields import JsonValue
from concord.frozen import rebuild

ECHO_MEMORY = 4  # outbound values remembered per (system, field) for echo suppression


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts_to_us(ts: datetime) -> int:
    """Source timestamps compare as integer microseconds since the epoch (UTC); naive means UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_ts(us: int) -> datetime:
    # Integer arithmetic: a float loses microseconds after ~2255. Positional (days, seconds, microseconds):
    # timedelta's keyword parsing cost a third of the call, once per ingested change that raises events.
    return EPOCH + timedelta(0, 0, us)


def _digest(value: JsonValue) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=6).hexdigest()


_MEMO_CHARS = 128  # longer texts (notes, descriptions) are rare and would make the memo's memory unbounded


@lru_cache(maxsize=65_536)
def _scalar_digest(kind: type, value: str | int) -> str:
    return _digest(value)


def value_digest(value: JsonValue) -> str:
    """A stable short digest of a JSON-mode value (sorted keys), used for echo marks and tie-breaks.

    Ingest digests every reported value several times per change (repeat detection, echo marks, tie-breaks),
    mostly the same few strings and integers, so those are memoised. The type is part of the key because
    True == 1 would otherwise share an entry; floats are not memoised (0.0 == -0.0 digest differently), nor
    long strings."""
    kind = type(value)
    if kind is int or kind is bool or (kind is str and len(value) <= _MEMO_CHARS):
        return _scalar_digest(kind, value)  # type: ignore[arg-type]
    return _digest(value)


@dataclass(frozen=True, slots=True)
class Provenance:
    system: str
    source_ts_us: int
    change_id: str
    mapping_version: str | None = None
    approved_by: str | None = None

    def __init__(self, system: str, source_ts_us: int, change_id: str, mapping_version: str | None = None,
                 approved_by: str | None = None) -> None:
        # Written out (decision 091): the dataclass-made __init__ is interpreted code even in the compiled build.
        object.__setattr__(self, "system", system)
        object.__setattr__(self, "source_ts_us", source_ts_us)
        object.__setattr__(self, "change_id", change_id)
        object.__setattr__(self, "mapping_version", mapping_version)
        object.__setattr__(self, "approved_by", approved_by)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)

    def to_json(self) -> list[Any]:
        return [self.system, self.source_ts_us, self.change_id, self.mapping_version, self.approved_by]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Provenance:
        system, ts, change_id, mapping_version, approved_by = raw
        return cls(system=system, source_ts_us=ts, change_id=change_id, mapping_version=mapping_version,
                   approved_by=approved_by)


@dataclass(frozen=True, slots=True)
class FieldValue:
    value: JsonValue
    provenance: Provenance
    authoritative: bool  # written by the field's owner (or approved by a steward)

    def __init__(self, value: JsonValue, provenance: Provenance, authoritative: bool) -> None:
        object.__setattr__(self, "value", value)  # written out: decision 091
        object.__setattr__(self, "provenance", provenance)
        object.__setattr__(self, "authoritative", authoritative)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


@dataclass
class GoldenRecord:
    """Treated as immutable once stored (the ingest writer caches records): every method that changes the
    bookkeeping dicts below replaces them (copy-on-write) instead of mutating what an older version shares."""

    tenant: str
    entity: str
    id: str
    version: int = 0
    fields: dict[str, FieldValue] = field(default_factory=dict)
    # values Concord pushed to each system, so their reflection back is recognised as an echo
    echo_marks: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # systems a create was already queued for: later changes queue updates that bind at delivery time
    creating: list[str] = field(default_factory=list)
    # when each bound system last sent us this record (epoch seconds); kept here, not in the bindings
    # table, because the record row is rewritten anyway and a bindings update would dirty another page
    synced: dict[str, float] = field(default_factory=dict)
    # What each system said in its newest report: {"t": source µs, "d": {field: value digest}}. Systems send
    # whole records; a value a system merely repeats is not a new write from it (it would only re-raise old
    # rejections). One timestamp per system keeps the record small: it is rewritten on every change.
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __init__(self, tenant: str, entity: str, id: str, version: int = 0,
                 fields: dict[str, FieldValue] | None = None,
                 echo_marks: dict[str, dict[str, list[str]]] | None = None, creating: list[str] | None = None,
                 synced: dict[str, float] | None = None,
                 reported: dict[str, dict[str, Any]] | None = None) -> None:
        # Written out (decision 091); None stands for each field's empty default, a fresh one per record.
        self.tenant, self.entity, self.id, self.version = tenant, entity, id, version
        self.fields = {} if fields is None else fields
        self.echo_marks = {} if echo_marks is None else echo_marks
        self.creating = [] if creating is None else creating
        self.synced = {} if synced is None else synced
        self.reported = {} if reported is None else reported

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A compiled class with its own __init__ runs it from __new__ too, so the default reduce (which makes an
        # empty instance and sets its state) would call it without arguments: pickled through the constructor.
        return rebuild(self)

    def fresh_reports(self, system: str, values: dict[str, JsonValue], source_ts_us: int) -> list[str]:
        """Fields of a report that say something new. A report not newer than the system's newest one is
        passed on whole (the gate judges it stale or not); a newer one loses the fields it merely repeats."""
        seen = self.reported.get(system)
        if seen is None or source_ts_us <= seen["t"]:
            return list(values)
        digests = seen["d"]
        return [path for path, value in values.items() if digests.get(path) != value_digest(value)]

    def note_reports(self, system: str, values: dict[str, JsonValue], source_ts_us: int) -> None:
        seen = self.reported.get(system)
        if seen is not None and source_ts_us <= seen["t"]:
            return
        digests = {**(seen["d"] if seen else {}), **{path: value_digest(v) for path, v in values.items()}}
        self.reported = {**self.reported, system: {"t": source_ts_us, "d": digests}}

    def values(self) -> dict[str, JsonValue]:
        return {path: fv.value for path, fv in self.fields.items()}

    def value(self, path: str) -> JsonValue:
        fv = self.fields.get(path)
        return None if fv is None else fv.value

    def remember_push(self, system: str, path: str, value: JsonValue) -> None:
        digest = value_digest(value)
        marks = [m for m in self.echo_marks.get(system, {}).get(path, ()) if m != digest]
        self._set_marks(system, path, [*marks, digest][-ECHO_MEMORY:])

    def _set_marks(self, system: str, path: str, marks: list[str]) -> None:
        self.echo_marks = {**self.echo_marks, system: {**self.echo_marks.get(system, {}), path: marks}}

    def mark_creating(self, system: str) -> None:
        self.creating = [*self.creating, system]

    def mark_synced(self, system: str, at: float) -> None:
        self.synced = {**self.synced, system: at}

    def is_echo(self, system: str, path: str, value: JsonValue) -> bool:
        return value_digest(value) in self.echo_marks.get(system, {}).get(path, ())

    def forget_echo(self, system: str, path: str, value: JsonValue) -> None:
        marks = self.echo_marks.get(system, {}).get(path)
        digest = value_digest(value)
        if marks is not None and digest in marks:
            self._set_marks(system, path, [m for m in marks if m != digest])

    def with_fields(self, fields: dict[str, FieldValue]) -> GoldenRecord:
        """A copy holding `fields`, sharing the (copy-on-write) bookkeeping dicts; dataclasses.replace did the
        same at several times the cost, once per ingested change."""
        return GoldenRecord(tenant=self.tenant, entity=self.entity, id=self.id, version=self.version, fields=fields,
                            echo_marks=self.echo_marks, creating=self.creating, synced=self.synced,
                            reported=self.reported)

    def to_json(self) -> dict[str, Any]:
        # Most fields of a record share a provenance (one change writes many fields), so provenances are
        # stored once in a list and fields point at them: the row shrinks about threefold. Deduplicated by
        # equality, but looked up by identity first: fields of one change share one Provenance object, and
        # hashing a frozen dataclass rebuilds a tuple of its fields every time.
        by_id: dict[int, int] = {}
        provs: dict[Provenance, int] = {}
        fields = {}
        for path, fv in self.fields.items():
            prov = fv.provenance
            index = by_id.get(id(prov))
            if index is None:
                index = by_id[id(prov)] = provs.setdefault(prov, len(provs))
            fields[path] = [fv.value, index, fv.authoritative]
        return {"f": fields, "p": [p.to_json() for p in provs], "echo": self.echo_marks, "creating": self.creating,
                "synced": self.synced, "rep": self.reported}

    @classmethod
    def from_json(cls, tenant: str, entity: str, rid: str, version: int, raw: dict[str, Any]) -> GoldenRecord:
        provs = [Provenance.from_json(p) for p in raw.get("p", [])]
        fields = {path: FieldValue(value, provs[index], bool(owner)) for path, (value, index, owner)
                  in raw.get("f", {}).items()}
        return cls(tenant=tenant, entity=entity, id=rid, version=version, fields=fields,
                   echo_marks=raw.get("echo", {}), creating=raw.get("creating", []),
                   synced=raw.get("synced", {}), reported=raw.get("rep", {}))
