"""What the systems are told when a merge (or unmerge) re-points references (decision 028, "outbound").

A relink changes a golden record's reference field from B to A; every system that holds the relinked record
(has a binding for it) and maps that field outbound gets an `update` naming A *in its own ids*. The normal
router leaves out fields the target owns (it is their source of truth); a relink is the one write where the
owner must hear Concord anyway: its value names a record the steward folded away, and only the owner's own
record can be re-pointed. A system where A has no binding gets nothing, and the change-log row says why
(`unrouted`), as the router leaves an unresolved reference out rather than invent an id. A system whose
reference already holds A's id there (A had no binding of its own, B's moved to it) gets nothing either.

The pushed values are remembered as echo marks on the record (`remember_push`), like every routed write, so the
system's reflection of the update is recognised as Concord's own write and never as a conflicting change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.ingest.outcome import OUTBOX_DELIVERY_STATE
from concord.ingest.router import OutboundCommand, route
from concord.mappings.mapper import RefResolver
from concord.storage import tables as t
from concord.storage.repository import dumps


def bindings_of(conn: Connection, canonical_id: str, ids: list[int] | None = None) -> dict[str, str]:
    """system → external id of `canonical_id` (or of the binding rows `ids`); the lowest binding id wins, so
    a record bound twice in one system resolves the same way every time."""
    b = t.bindings.c
    stmt = select(b.system, b.external_id).where(b.id.in_(ids) if ids is not None else b.canonical_id == canonical_id)
    out: dict[str, str] = {}
    for system, external_id in conn.execute(stmt.order_by(b.id.desc())):
        out[system] = external_id
    return out


@dataclass(frozen=True)
class RelinkRouting:
    """References move from `from_refs` (each system's id of the old target) to `to_id`, known as `to_refs`."""

    runtime: Runtime
    to_id: str
    to_refs: dict[str, str]
    from_refs: dict[str, str]

    def route(self, conn: Connection, record: GoldenRecord, paths: list[str], change: dict[str, Any]
              ) -> list[dict[str, Any]]:
        """Outbox command rows for `record`'s re-pointed `paths`; notes the echo marks on `record` and what was
        left unrouted (and why) in the `change` row."""
        rows, unrouted = self.commands(conn, record, paths, change)
        _note(change, len(rows), unrouted)
        return rows

    def commands(self, conn: Connection, record: GoldenRecord, paths: list[str], change: dict[str, Any]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """(command rows, [{system, reason}] left unrouted) for every system holding `record`."""
        rows: list[dict[str, Any]] = []
        unrouted: list[dict[str, str]] = []
        tenant = self.runtime.hub.tenants.get(record.tenant)
        for system, external_id in sorted(bindings_of(conn, record.id).items()):
            mapper = self.runtime.mappings.get(system, record.entity, record.tenant)
            if tenant is None or system not in tenant.systems or mapper is None:
                continue
            mapped = [p for p in paths if p in mapper.outbound_paths]
            if not mapped:
                continue  # the system does not carry this reference: nothing of its own to re-point
            target = self.to_refs.get(system)
            if target is None:
                unrouted.append({"system": system, "reason": f"{self.to_id} has no binding in {system}"})
                continue
            if target == self.from_refs.get(system):
                continue  # it already names `target`, which now resolves to `to_id`
            native = mapper.to_native({p: self.to_id for p in mapped}, create=False, resolve=self._resolver(target))
            if not native:
                continue
            cmd = OutboundCommand(system=system, op="update", object=mapper.spec.object, entity=record.entity,
                                  canonical_id=record.id, external_id=external_id, fields=native,
                                  canonical_fields=tuple(sorted(mapped)), mapping_version=mapper.spec.label)
            rows.append(_command_row(record, cmd, change))
            for path in mapped:
                record.remember_push(system, path, self.to_id)
        return rows, unrouted

    def _resolver(self, target: str) -> RefResolver:
        # Only the re-pointed reference is translated: every other field of the record stays as it is.
        def resolve(_entity: str, canonical_id: str) -> str | None:
            return target if canonical_id == self.to_id else None

        return resolve


def _diff(held: GoldenRecord, record: GoldenRecord) -> dict[str, JsonValue]:
    """What a system that last heard `held` must be told to hold `record` (a dropped field as None)."""
    return {p: record.value(p) for p in sorted(set(held.fields) | set(record.fields))
            if held.value(p) != record.value(p)}


def record_commands(runtime: Runtime, conn: Connection, record: GoldenRecord,
                    sides: list[tuple[dict[str, str], GoldenRecord]], change: dict[str, Any]) -> list[dict[str, Any]]:
    """Updates for the merged (or unmerged) record itself, through the normal router: each side is the bindings
    of the systems that last heard one version of it, and that version. Only updates, only to those systems:
    creating the record elsewhere is the ingest path's business, not a steward's merge's. The router's rules
    hold, so a system is not sent the fields it owns."""
    rows: list[dict[str, Any]] = []

    def resolver(system: str) -> RefResolver:
        return lambda _entity, canonical_id: bindings_of(conn, canonical_id).get(system)

    for bound, held in sides:
        changed = _diff(held, record)
        for system, external_id in sorted(bound.items()):
            for cmd in route(runtime, record, changed, "concord", {system: external_id}, resolver):
                if cmd.system != system or cmd.op != "update":
                    continue
                rows.append(_command_row(record, cmd, change))
                for path in cmd.canonical_fields:
                    record.remember_push(system, path, record.value(path))
    return rows


def _command_row(record: GoldenRecord, cmd: OutboundCommand, change: dict[str, Any]) -> dict[str, Any]:
    payload = cmd.to_payload(cmd.idempotency_key(change["change_id"]))
    return {"message_id": new_id(), "tenant": record.tenant, "kind": "command", "type": f"update_{record.entity}",
            "target": cmd.system, "entity": record.entity, "canonical_id": record.id,
            "correlation_id": change["correlation_id"], "causation_id": change["change_id"],
            "payload": dumps(payload), "created_at": time.time(), **OUTBOX_DELIVERY_STATE}


def _note(change: dict[str, Any], commands: int, unrouted: list[dict[str, str]]) -> None:
    """The change-log row tells what was sent (`outbound_commands`) and what was not (`unrouted`)."""
    decision = orjson.loads(change["decision"])
    decision["outbound_commands"] = commands
    change["decision"] = dumps(decision)
    if unrouted:
        change["payload"] = dumps({**orjson.loads(change["payload"]), "unrouted": unrouted})
