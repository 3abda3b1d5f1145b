"""Healing a drift report through the normal paths, never around them.

Push and create drift become outbox commands built by the ingest router (`route`), which never sends a target
a field it owns; the dispatcher delivers them like any other command. Pull and extra drift go through ingest
as the system's own change (the gate applies the owner's value; matching decides link, hold or create).
Deleted records are unbound and remembered (`binding_tombstones`) so they are not reported missing again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert

from concord.canonical.fields import JsonValue
from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.ingest.models import ChangeError
from concord.ingest.outcome import OUTBOX_DELIVERY_STATE
from concord.ingest.router import OutboundCommand, route
from concord.ingest.service import IngestService
from concord.mappings.mapper import RefResolver
from concord.matching.tables import binding_tombstones
from concord.reconciliation.drift import Heal
from concord.reconciliation.engine import DriftReport, reconcile_change
from concord.storage import tables as t
from concord.storage.repository import IngestRepository, dumps


@dataclass
class HealReport:
    run_id: str
    commands: list[dict[str, Any]] = field(default_factory=list)  # outbox command payloads queued
    ingested: int = 0
    refused: list[str] = field(default_factory=list)
    unbound: int = 0


def _command_row(tenant: str, cmd: OutboundCommand, run_id: str) -> dict[str, Any]:
    key = cmd.idempotency_key(f"reconcile:{run_id}")
    return {"message_id": new_id(), "tenant": tenant, "kind": "command", "type": f"{cmd.op}_{cmd.entity}",
            "target": cmd.system, "entity": cmd.entity, "canonical_id": cmd.canonical_id, "correlation_id": run_id,
            "causation_id": run_id, "payload": dumps(cmd.to_payload(key)), "created_at": time.time(),
            **OUTBOX_DELIVERY_STATE}


def _resolver(repo: IngestRepository) -> Callable[[str], RefResolver]:
    def for_system(system: str) -> RefResolver:
        return lambda _entity, cid: repo.bindings_by_canonical([cid]).get(cid, {}).get(system)

    return for_system


def _outbound(conn: Connection, runtime: Runtime, report: DriftReport, run_id: str) -> list[dict[str, Any]]:
    """Commands for push and create drift, for the reconciled system only."""
    pushes: dict[str, dict[str, JsonValue]] = {}
    creates: set[str] = set()
    for d in report.drifts:
        if d.heal is Heal.PUSH and d.canonical_id and d.field:
            pushes.setdefault(d.canonical_id, {})[d.field] = d.golden
        elif d.heal is Heal.CREATE and d.canonical_id:
            creates.add(d.canonical_id)
    repo = IngestRepository(conn)
    records = repo.golden(sorted(pushes.keys() | creates))
    bound = repo.bindings_by_canonical(sorted(records))
    rows: list[dict[str, Any]] = []
    for cid, record in records.items():
        systems = bound.get(cid, {})
        if cid in creates:  # as if the record had just appeared: the router seeds every mapped field
            record, changed = replace(record, creating=[s for s in record.creating if s != report.system]), None
        else:
            changed = pushes[cid]
        commands = route(runtime, record, changed or record.values(), "reconcile", systems, _resolver(repo))
        rows.extend(_command_row(report.tenant, c, run_id) for c in commands if c.system == report.system
                    and (c.op == "create") == (cid in creates))
    if rows:
        conn.execute(insert(t.outbox), rows)
    return rows


def _unbind(conn: Connection, report: DriftReport) -> int:
    b = t.bindings.c
    gone = [d for d in report.drifts if d.heal is Heal.UNBIND and d.canonical_id and d.external_id]
    for d in gone:
        conn.execute(delete(t.bindings).where(b.tenant == report.tenant, b.system == report.system,
                                              b.entity == report.entity, b.external_id == d.external_id))
    if gone:
        conn.execute(insert(binding_tombstones), [
            {"tenant": report.tenant, "system": report.system, "entity": report.entity, "canonical_id": cid,
             "external_id": ext, "reason": "deleted or archived upstream", "created_at": time.time()}
            for cid, ext in {d.canonical_id: d.external_id for d in gone}.items()])
    return len(gone)


def heal(service: IngestService, runtime: Runtime, report: DriftReport) -> HealReport:
    """Queue the outbound commands, ingest the owners' records and unknown ones, unbind the deleted."""
    out = HealReport(new_id())
    with service.engine.begin() as conn:
        out.commands = [orjson.loads(r["payload"]) for r in _outbound(conn, runtime, report, out.run_id)]
        out.unbound = _unbind(conn, report)
    inbound = {d.external_id for d in report.drifts if d.heal in (Heal.PULL, Heal.INGEST) and d.external_id}
    now = datetime.now(UTC)
    changes = [reconcile_change(report.tenant, report.system, report.entity, report.sources[ext], out.run_id, now)
               for ext in sorted(inbound) if ext in report.sources]
    if changes:
        for change, outcome in zip(changes, service.ingest(changes), strict=True):
            if isinstance(outcome, ChangeError):
                out.refused.append(f"{change.external_id}: {outcome.detail}")
            else:
                out.ingested += 1
    return out

