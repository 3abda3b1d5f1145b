"""Re-pointing the records that refer to a merged-away record, and putting them back on unmerge.

When account B is merged into A, every contact, billing account, contract, subscription, entitlement (and child
account, through `parent_account_id`) whose reference field names B must name A, or it points at a record that
no longer exists. Which fields are references is read from the canonical models (`<entity>_id` and
`parent_<entity>_id`), not listed by hand, so a new related entity is relinked without touching this module.

Each relinked record keeps the provenance of the statement it came from (system, source time, authority: the
ownership gate orders later writes exactly as before, and the owner, whose binding now resolves to A, says the
same thing) with the change id of the relink's own change-log entry, which says what happened. Each relinked
record gets a change-log row (system `concord`), an `<Noun>Updated` event, and the merge's snapshot keeps the
record as it was, so `unmerge` restores it byte for byte (or, when it changed since, only its reference field).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
from concord.canonical.models import ENTITY_TYPES
from concord.events.derive import derive_events
from concord.events.produce import new_event, outbox_row
from concord.events.registry import SchemaRegistry
from concord.ids import new_id
from concord.ingest.models import ChangePublic, ChangeStatus
from concord.ingest.outcome import customer_key
from concord.matching.relink_outbound import RelinkRouting
from concord.storage import tables as t
from concord.storage.repository import dumps


def reference_fields(target: str) -> dict[str, tuple[str, ...]]:
    """Referencing entity → its fields that hold the canonical id of a `target` record."""
    out: dict[str, tuple[str, ...]] = {}
    for entity, model in ENTITY_TYPES.items():
        paths = tuple(sorted(name for name in model.model_fields
                             if name.endswith("_id") and name[:-3].removeprefix("parent_") == target))
        if paths:
            out[entity] = paths
    return out


def _record(row: dict[str, Any]) -> GoldenRecord:
    return GoldenRecord.from_json(row["tenant"], row["entity"], row["id"], row["version"], orjson.loads(row["data"]))


def referring(conn: Connection, tenant: str, target: str, target_id: str,
              skip: Sequence[str] = ()) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """(golden row, reference paths naming `target_id`) of every record of `tenant` that refers to it.

    A substring scan of the stored JSON, then an exact check of the parsed fields: merges are rare steward
    actions, and a scan is exact where a projection (ops_customer_links) may lag behind."""
    refs = reference_fields(target)
    g = t.golden_records.c
    stmt = select(t.golden_records).where(g.tenant == tenant, g.entity.in_(sorted(refs)),
                                          g.data.like(f'%"{target_id}"%'), g.id.not_in(list(skip)))
    for r in conn.execute(stmt.order_by(g.id)):
        row = {str(k): v for k, v in r._asdict().items()}
        fields = orjson.loads(row["data"]).get("f", {})
        paths = [p for p in refs[row["entity"]] if p in fields and fields[p][0] == target_id]
        if paths:
            yield row, paths


@dataclass(frozen=True)
class Repoint:
    """One record moved from one referenced id to another, as a merge's snapshot keeps it."""

    id: str
    entity: str
    paths: tuple[str, ...]
    row: dict[str, Any]  # the golden row before
    version_after: int


def change_row(tenant: str, entity: str, rid: str, key: str, correlation: str, payload: dict[str, Any],
               applied: list[str], now: float) -> dict[str, Any]:
    """A `change_log` row for a write Concord made itself (merge, unmerge, relink), readable by /changes."""
    change_id = new_id()
    public = ChangePublic(change_id=change_id, canonical_id=rid, status=ChangeStatus.APPLIED, created=False,
                          applied=sorted(applied), rejected=[], pending=[], stale=[], echoes=[], mapping_version=None,
                          correlation_id=correlation, outbound_commands=0)
    return {"change_id": change_id, "tenant": tenant, "idempotency_key": key, "correlation_id": correlation,
            "system": "concord", "entity": entity, "external_id": rid, "canonical_id": rid,
            "source_ts_us": int(now * 1_000_000), "received_at": now, "mapping_version": None,
            "status": public.status.value, "rejected": 0, "pending": 0, "payload": dumps(payload),
            "decision": public.model_dump_json()}


def updated_event(record: GoldenRecord, changes: dict[str, tuple[Any, Any]], merge_id: str,
                  change_id: str, registry: SchemaRegistry) -> dict[str, Any]:
    """The outbox row of `<Noun>Updated` (named as ingest names it) for fields Concord re-pointed. `registry` is
    built once per merge by the caller: building it checks every schema version (~40 ms), once per record it was
    nearly all of a merge's time."""
    applied = {p: after for p, (_, after) in changes.items()}
    derived = derive_events(record.entity, record.id, False, applied, {p: b for p, (b, _) in changes.items()},
                            "concord")[0]
    data = {**derived.data, "changed_fields": sorted(changes)}
    envelope = new_event(registry, derived.type, record.tenant, customer_key(record), data,
                         merge_id, change_id)
    return outbox_row(envelope)


def _write(conn: Connection, row: dict[str, Any], record: GoldenRecord, version: int, now: float) -> bool:
    g = t.golden_records.c
    done = conn.execute(update(t.golden_records).where(g.id == row["id"], g.version == row["version"]).values(
        version=version, data=dumps(record.to_json()), updated_at=now)).rowcount
    return bool(done == 1)


def relink(conn: Connection, tenant: str, target: str, absorbed_id: str, survivor_id: str, merge_id: str,
           now: float, routing: RelinkRouting | None = None) -> tuple[list[Repoint], list[dict[str, Any]]]:
    """Point every reference to `absorbed_id` at `survivor_id` (and, with `routing`, queue the systems' updates).
    Returns the snapshot entries and the change rows written (the caller seals them); raises `RuntimeError` when
    a record changed under the scan."""
    moved: list[Repoint] = []
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    registry: SchemaRegistry | None = None  # built on first use: most merges relink nothing
    for row, paths in list(referring(conn, tenant, target, absorbed_id, skip=(survivor_id, absorbed_id))):
        record = _record(row)
        change = change_row(tenant, record.entity, record.id, f"merge:{merge_id}:{record.id}", merge_id,
                            {p: survivor_id for p in paths}, paths, now)
        fields = dict(record.fields)
        for path in paths:
            old = fields[path]
            fields[path] = FieldValue(survivor_id, _with_change(old, change["change_id"]), old.authoritative)
        record.fields = fields
        if routing is not None:
            events.extend(routing.route(conn, record, paths, change))
        if not _write(conn, row, record, row["version"] + 1, now):
            raise RuntimeError(f"{record.id} changed during the merge; try again")
        moved.append(Repoint(record.id, record.entity, tuple(paths), row, row["version"] + 1))
        changes.append(change)
        registry = registry or SchemaRegistry.default()
        events.append(updated_event(record, {p: (absorbed_id, survivor_id) for p in paths}, merge_id,
                                    change["change_id"], registry))
    _log_relinks(conn, changes, events)
    return moved, changes


def _with_change(old: FieldValue, change_id: str) -> Provenance:
    p = old.provenance
    return Provenance(system=p.system, source_ts_us=p.source_ts_us, change_id=change_id,
                   mapping_version=p.mapping_version, approved_by=p.approved_by)


def _current_row(conn: Connection, record_id: str) -> dict[str, Any] | None:
    g = t.golden_records.c
    current = conn.execute(select(t.golden_records).where(g.id == record_id)).first()
    return None if current is None else {str(k): v for k, v in current._asdict().items()}


def _put_back(conn: Connection, entry: dict[str, Any], cur: dict[str, Any], record: GoldenRecord, old: GoldenRecord,
              paths: list[str], change: dict[str, Any], now: float,
              routing: RelinkRouting | None) -> tuple[GoldenRecord, list[dict[str, Any]]]:
    """Write one relinked record back; returns the record as restored and the systems' commands. The stored row
    goes back byte for byte only when nothing touched it since and no system is told anything (telling one
    stores its echo marks in the record, so the row must be written anew)."""
    before = entry["row"]
    record.fields = {**record.fields, **{p: old.fields[p] for p in paths}}
    untouched = cur["version"] == entry["version_after"]
    if untouched:
        record = old
    commands = routing.route(conn, record, paths, change) if routing is not None else []
    if untouched and not commands:
        g = t.golden_records.c
        conn.execute(update(t.golden_records).where(g.id == record.id).values(
            data=before["data"], updated_at=before["updated_at"], version=cur["version"] + 1))
    else:
        _write(conn, cur, record, cur["version"] + 1, now)
    return record, commands


def restore(conn: Connection, moved: list[dict[str, Any]], absorbed_id: str, survivor_id: str, merge_id: str,
            now: float, routing: RelinkRouting | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Undo `relink`: a record untouched since gets its stored row back exactly (version moves forward); one
    written since gets back only the reference fields that still name the survivor. With `routing`, the systems
    get the reverse updates (and the record their echo marks). Returns the ids restored and the change rows."""
    restored: list[str] = []
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    registry: SchemaRegistry | None = None
    for entry in moved:
        before = entry["row"]
        cur = _current_row(conn, entry["id"])
        if cur is None:
            continue  # deleted (merged away itself) since: nothing left to point back
        record = _record(cur)
        old = _record(before)
        paths = [p for p in entry["paths"] if record.value(p) == survivor_id]
        if not paths:
            continue  # re-pointed by someone since: theirs is the newer word
        change = change_row(before["tenant"], record.entity, record.id, f"unmerge:{merge_id}:{record.id}",
                            merge_id, {p: absorbed_id for p in paths}, paths, now)
        record, commands = _put_back(conn, entry, cur, record, old, paths, change, now, routing)
        events.extend(commands)
        restored.append(record.id)
        changes.append(change)
        registry = registry or SchemaRegistry.default()
        events.append(updated_event(record, {p: (survivor_id, absorbed_id) for p in paths}, merge_id,
                                    change["change_id"], registry))
    _log_relinks(conn, changes, events)
    return restored, changes


def _log_relinks(conn: Connection, changes: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """One insert each for the whole merge's change rows and events; nothing relinked, nothing written."""
    if changes:
        conn.execute(insert(t.change_log), changes)
        conn.execute(insert(t.outbox), events)


def snapshot(moved: list[Repoint]) -> list[dict[str, Any]]:
    return [{"id": m.id, "entity": m.entity, "paths": list(m.paths), "row": m.row, "version_after": m.version_after}
            for m in moved]
