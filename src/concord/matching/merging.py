"""Merge and unmerge of golden records in the store, each in one transaction (survivorship is pure, in
`survivorship`). A merge keeps a snapshot of everything it changes, so an unmerge restores both records, their
bindings, their match keys and the records that referred to the absorbed one (`relink`) exactly. Both leave an
event in the outbox (CustomersMerged / CustomersUnmerged), a change-log row per record written (sealed into the
audit chain like an ingest batch, and followed by the online duplicate check) and an audit entry naming the actor.

Hazard: a running ingest writer caches bindings ("bindings never change once made"). After a merge done by
another process its cache may still point an absorbed record's external id at the absorbed id; the write then
meets a missing or newer row, fails the version check, and the retry reads the truth from the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from concord.canonical.golden import GoldenRecord
from concord.events.produce import new_event, outbox_row
from concord.events.registry import SchemaRegistry
from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.matching.relink import change_row, relink, restore, snapshot
from concord.matching.relink_outbound import RelinkRouting, bindings_of, record_commands
from concord.matching.survivorship import survive
from concord.matching.tables import merges
from concord.security import audit
from concord.security.sealing import seal_rows
from concord.storage import tables as t
from concord.storage.repository import dumps


class MergeRefused(ValueError):
    """The merge or unmerge cannot be done as asked; the message names the record or merge at fault."""


@dataclass(frozen=True)
class MergeResult:
    merge_id: str
    survivor_id: str
    absorbed_id: str
    moved_bindings: int
    relinked: int = 0  # related records re-pointed (merge) or pointed back (unmerge)


def _row(conn: Connection, tenant: str, record_id: str) -> dict[str, Any]:
    g = t.golden_records.c
    row = conn.execute(select(t.golden_records).where(g.id == record_id, g.tenant == tenant)).first()
    if row is None:
        raise MergeRefused(f"no golden record {record_id} in tenant {tenant}")
    return {str(k): v for k, v in row._asdict().items()}  # plain str keys: orjson refuses SQLAlchemy's quoted_name


def _record(row: dict[str, Any]) -> GoldenRecord:
    return GoldenRecord.from_json(row["tenant"], row["entity"], row["id"], row["version"], orjson.loads(row["data"]))


def _event(conn: Connection, event_type: str, tenant: str, data: dict[str, Any], merge_id: str) -> None:
    envelope = new_event(SchemaRegistry.default(), event_type, tenant, data["canonical_id"], data, merge_id, merge_id)
    conn.execute(insert(t.outbox), [outbox_row(envelope)])


def _record_changes(conn: Connection, changes: list[dict[str, Any]], related: list[dict[str, Any]],
                    entry: audit.Entry) -> None:
    conn.execute(insert(t.change_log), changes)
    seal_rows(conn, [*changes, *related])
    audit.append(conn, entry)


def _no_self_parent(merged: GoldenRecord, records: tuple[GoldenRecord, GoldenRecord], ids: set[str]) -> bool:
    """A survivor whose parent was the absorbed record (or whose absorbed record's parent was the survivor) must
    not become its own parent: it takes the place of the pair in the hierarchy, so it keeps the first parent
    either record had outside the pair (the one survivorship did not pick first), or none."""
    path = "parent_account_id"
    if merged.value(path) not in ids:
        return False
    outside = [fv for r in records if (fv := r.fields.get(path)) is not None and fv.value not in ids]
    fields = {p: fv for p, fv in merged.fields.items() if p != path}
    merged.fields = {**fields, path: outside[0]} if outside else fields
    return True


def _parent_commands(conn: Connection, runtime: Runtime, merged: GoldenRecord, before: GoldenRecord,
                     merge_id: str) -> list[dict[str, Any]]:
    """The survivor's systems are told its new parent like a relink (its owner too: the parent it holds is
    the absorbed record, or the survivor itself, from now on). A parent cleared is not sent: a reference is
    only ever sent as an id (decision 028)."""
    parent, old = merged.value("parent_account_id"), before.value("parent_account_id")
    if not isinstance(parent, str):
        return []
    routing = RelinkRouting(runtime, parent, bindings_of(conn, parent),
                            bindings_of(conn, old) if isinstance(old, str) else {})
    rows, _ = routing.commands(conn, merged, ["parent_account_id"],
                               {"change_id": f"{merge_id}:parent", "correlation_id": merge_id})
    return rows


def _tell_merge(conn: Connection, runtime: Runtime, merged: GoldenRecord, pair: tuple[GoldenRecord, GoldenRecord],
                bound: tuple[dict[str, str], dict[str, str]], merge_id: str, reparented: bool) -> list[dict[str, Any]]:
    """Updates for the systems of each side (what differs from the version they hold), and the new parent."""
    (before, gone), (own, theirs) = pair, bound
    told = record_commands(runtime, conn, merged, [
        (own, before), ({s: e for s, e in theirs.items() if s not in own}, gone)],
        {"change_id": merge_id, "correlation_id": merge_id})
    return told + (_parent_commands(conn, runtime, merged, before, merge_id) if reparented else [])


def _mergeable_rows(conn: Connection, tenant: str, survivor_id: str,
                    absorbed_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The survivor's and the absorbed record's rows; refused unless they are two records of one entity."""
    if survivor_id == absorbed_id:
        raise MergeRefused("a record cannot be merged into itself")
    keep, gone = _row(conn, tenant, survivor_id), _row(conn, tenant, absorbed_id)
    if keep["entity"] != gone["entity"]:
        raise MergeRefused(f"{survivor_id} is a {keep['entity']}, {absorbed_id} a {gone['entity']}")
    return keep, gone


def _replace_pair(conn: Connection, keep: dict[str, Any], merged: GoldenRecord, survivor_id: str, absorbed_id: str,
                  version: int, now: float) -> None:
    """The merged record takes the survivor's row and the absorbed row goes. The version check refuses the
    merge when the survivor was written since it was read: survivorship ran on what was read."""
    g = t.golden_records.c
    done = conn.execute(update(t.golden_records).where(g.id == survivor_id, g.version == keep["version"]).values(
        version=version, data=dumps(merged.to_json()), lifecycle_state=merged.value("lifecycle_state"),
        updated_at=now)).rowcount
    if done != 1:
        raise MergeRefused(f"{survivor_id} changed during the merge; try again")
    conn.execute(delete(t.golden_records).where(g.id == absorbed_id))


def merge(conn: Connection, tenant: str, survivor_id: str, absorbed_id: str, actor: str,
          reason: str = "", runtime: Runtime | None = None) -> MergeResult:
    """Fold `absorbed_id` into `survivor_id`: survivorship by ownership, bindings and keys moved, an event;
    with `runtime`, the systems holding a relinked record are sent its new reference (`relink_outbound`)."""
    keep, gone = _mergeable_rows(conn, tenant, survivor_id, absorbed_id)
    b, k = t.bindings.c, t.match_keys.c
    moved = [r._asdict() for r in conn.execute(select(b.id, b.system).where(b.canonical_id == absorbed_id))]
    keys = [r.key for r in conn.execute(select(k.key).where(k.tenant == tenant, k.canonical_id == absorbed_id))]
    before = _record(keep)
    merged = survive(before, _record(gone))
    reparented = _no_self_parent(merged, (before, _record(gone)), {survivor_id, absorbed_id})
    own, theirs = bindings_of(conn, survivor_id), bindings_of(conn, absorbed_id)
    routing = None if runtime is None else RelinkRouting(runtime, survivor_id, {**theirs, **own}, theirs)
    version = keep["version"] + 1
    now = time.time()
    merge_id = new_id()
    # Before the write, so the echo marks of what the systems are told are stored with the survivor.
    told = [] if runtime is None else _tell_merge(conn, runtime, merged, (before, _record(gone)), (own, theirs),
                                                  merge_id, reparented)
    _replace_pair(conn, keep, merged, survivor_id, absorbed_id, version, now)
    if told:
        conn.execute(insert(t.outbox), told)
    _move_identity(conn, tenant, absorbed_id, survivor_id)
    try:
        related, relinked = relink(conn, tenant, keep["entity"], absorbed_id, survivor_id, merge_id, now, routing)
    except RuntimeError as exc:
        raise MergeRefused(str(exc)) from exc
    snap = {"survivor": keep, "absorbed": gone, "bindings": [m["id"] for m in moved], "match_keys": keys,
            "related": snapshot(related)}
    result = MergeResult(merge_id, survivor_id, absorbed_id, len(moved), len(related))
    _store_merge(conn, tenant, keep["entity"], result, snap, version, actor, reason, now,
                 sorted({m["system"] for m in moved}))
    _log_merge(conn, tenant, keep["entity"], result, [p for p, fv in merged.fields.items()
                                                      if before.fields.get(p) != fv], relinked, actor, reason, now)
    return result


def _move_identity(conn: Connection, tenant: str, absorbed_id: str, survivor_id: str) -> None:
    """The absorbed record's bindings and match keys now name the survivor."""
    b, k = t.bindings.c, t.match_keys.c
    conn.execute(update(t.bindings).where(b.canonical_id == absorbed_id).values(canonical_id=survivor_id))
    conn.execute(update(t.match_keys).where(k.tenant == tenant, k.canonical_id == absorbed_id)
                 .values(canonical_id=survivor_id))


def _store_merge(conn: Connection, tenant: str, entity: str, result: MergeResult, snap: dict[str, Any],
                 version: int, actor: str, reason: str, now: float, systems: list[str]) -> None:
    """The merge row (what unmerge restores from) and its CustomersMerged event."""
    merge_id, survivor_id, absorbed_id = result.merge_id, result.survivor_id, result.absorbed_id
    conn.execute(insert(merges), [{
        "id": merge_id, "tenant": tenant, "entity": entity, "survivor_id": survivor_id,
        "absorbed_id": absorbed_id, "snapshot": dumps(snap), "merged_version": version, "status": "merged",
        "actor": actor, "reason": reason, "created_at": now, "undone_at": None, "undone_by": None}])
    _event(conn, "CustomersMerged", tenant, {
        "entity": entity, "canonical_id": survivor_id, "source_system": "concord", "absorbed_id": absorbed_id,
        "merge_id": merge_id, "actor": actor, "systems": systems}, merge_id)


def _log_merge(conn: Connection, tenant: str, entity: str, result: MergeResult, changed: list[str],
               relinked: list[dict[str, Any]], actor: str, reason: str, now: float) -> None:
    merge_id, survivor_id, absorbed_id = result.merge_id, result.survivor_id, result.absorbed_id
    _record_changes(conn, [
        change_row(tenant, entity, survivor_id, f"merge:{merge_id}", merge_id, {"absorbed": absorbed_id},
                   changed, now),
        change_row(tenant, entity, absorbed_id, f"merge:{merge_id}:absorbed", merge_id,
                   {"merged_into": survivor_id}, [], now)], relinked, audit.Entry(
        tenant=tenant, actor=actor, action="customer.merged", object_type="merge", object_id=merge_id,
        customer=survivor_id, correlation_id=merge_id, before={"survivor": survivor_id, "absorbed": absorbed_id},
        after={"bindings": result.moved_bindings, "relinked": [r["canonical_id"] for r in relinked],
               "reason": reason}))


def unmerge(conn: Connection, merge_id: str, actor: str, force: bool = False,
            runtime: Runtime | None = None) -> MergeResult:
    """Restore both records as they were before `merge_id`, and the absorbed record's bindings and keys; with
    `runtime`, the systems holding a relinked record are sent the reverse update.

    Refused when the survivor changed since the merge (its later writes would be lost), unless `force`."""
    m = merges.c
    row = conn.execute(select(merges).where(m.id == merge_id)).first()
    if row is None:
        raise MergeRefused(f"no merge {merge_id}")
    if row.status != "merged":
        raise MergeRefused(f"merge {merge_id} is already {row.status}")
    snap = orjson.loads(row.snapshot)
    current = _row(conn, row.tenant, row.survivor_id)
    if current["version"] != row.merged_version and not force:
        raise MergeRefused(f"{row.survivor_id} changed since merge {merge_id} (version {row.merged_version} → "
                           f"{current['version']}); unmerge --force drops those changes")
    g = t.golden_records.c
    keep, gone = snap["survivor"], snap["absorbed"]
    # Versions move forward (a cached copy of either must fail its version check), the data goes back.
    conn.execute(update(t.golden_records).where(g.id == row.survivor_id).values(
        {**{c: keep[c] for c in ("data", "lifecycle_state", "updated_at")}, "version": current["version"] + 1}))
    conn.execute(insert(t.golden_records), [{**gone, "version": gone["version"] + 1}])
    _give_back_identity(conn, row.tenant, snap, row.absorbed_id)
    now = time.time()
    routing = None if runtime is None else RelinkRouting(
        runtime, row.absorbed_id, bindings_of(conn, row.absorbed_id), bindings_of(conn, row.survivor_id))
    if runtime is not None:
        _tell_unmerge(conn, runtime, row.survivor_id, row.absorbed_id, merge_id, _record(current))
    back, relinked = restore(conn, snap.get("related", []), row.absorbed_id, row.survivor_id, merge_id, now,
                             routing)
    conn.execute(update(merges).where(m.id == merge_id).values(status="unmerged", undone_at=now, undone_by=actor))
    _event(conn, "CustomersUnmerged", row.tenant, {
        "entity": row.entity, "canonical_id": row.survivor_id, "source_system": "concord",
        "absorbed_id": row.absorbed_id, "merge_id": merge_id, "actor": actor}, merge_id)
    result = MergeResult(merge_id, row.survivor_id, row.absorbed_id, len(snap["bindings"]), len(back))
    _log_unmerge(conn, row.tenant, row.entity, result, (keep, gone), relinked, back, actor, now)
    return result


def _give_back_identity(conn: Connection, tenant: str, snap: dict[str, Any], absorbed_id: str) -> None:
    """The bindings and match keys the merge moved name the absorbed record again."""
    b, k = t.bindings.c, t.match_keys.c
    if snap["bindings"]:
        conn.execute(update(t.bindings).where(b.id.in_(snap["bindings"])).values(canonical_id=absorbed_id))
    if snap["match_keys"]:
        conn.execute(update(t.match_keys).where(k.tenant == tenant, k.key.in_(snap["match_keys"]))
                     .values(canonical_id=absorbed_id))


def _log_unmerge(conn: Connection, tenant: str, entity: str, result: MergeResult,
                 rows: tuple[dict[str, Any], dict[str, Any]], relinked: list[dict[str, Any]], back: list[str],
                 actor: str, now: float) -> None:
    merge_id, survivor_id, absorbed_id = result.merge_id, result.survivor_id, result.absorbed_id
    keep, gone = rows
    _record_changes(conn, [
        change_row(tenant, entity, survivor_id, f"unmerge:{merge_id}", merge_id, {"unmerged": absorbed_id},
                   sorted(orjson.loads(keep["data"]).get("f", {})), now),
        change_row(tenant, entity, absorbed_id, f"unmerge:{merge_id}:absorbed", merge_id,
                   {"restored_from": survivor_id}, sorted(orjson.loads(gone["data"]).get("f", {})), now)],
        relinked, audit.Entry(
            tenant=tenant, actor=actor, action="customer.unmerged", object_type="merge", object_id=merge_id,
            customer=survivor_id, correlation_id=merge_id, after={"absorbed": absorbed_id,
                                                                  "bindings": result.moved_bindings,
                                                                  "relinked": back}))


def _tell_unmerge(conn: Connection, runtime: Runtime, survivor_id: str, absorbed_id: str, merge_id: str,
                  merged: GoldenRecord) -> None:
    """The systems of each restored record last heard the merged one: each is told what differs (the router's
    rules hold), and the restored rows get the echo marks (only then: otherwise they stay byte for byte)."""
    g = t.golden_records.c
    for rid, key in ((survivor_id, f"unmerge:{merge_id}"), (absorbed_id, f"unmerge:{merge_id}:absorbed")):
        row = conn.execute(select(t.golden_records).where(g.id == rid)).one()
        record = _record({str(k): v for k, v in row._asdict().items()})
        told = record_commands(runtime, conn, record, [(bindings_of(conn, rid), merged)],
                               {"change_id": key, "correlation_id": merge_id})
        parent = record.value("parent_account_id")
        if rid == survivor_id and parent == absorbed_id and merged.value("parent_account_id") != parent:
            told += _parent_commands(conn, runtime, record, merged, key)  # the self-parent rule, undone
        if told:
            conn.execute(insert(t.outbox), told)
            conn.execute(update(t.golden_records).where(g.id == rid).values(data=dumps(record.to_json())))


def merges_of(conn: Connection, tenant: str) -> list[dict[str, Any]]:
    m = merges.c
    stmt = select(m.id, m.survivor_id, m.absorbed_id, m.status, m.actor, m.created_at).where(m.tenant == tenant)
    return [r._asdict() for r in conn.execute(stmt.order_by(m.created_at))]
