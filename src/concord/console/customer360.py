"""The customer 360 read model: golden record with provenance, cross-system ids, related records, lifecycle
timeline joined by correlation id, and the blocked reasons — all from Concord's own store, never the sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, or_, select

from concord.canonical.golden import GoldenRecord, us_to_ts
from concord.console.blocked import BlockedReason, CustomerFacts, why_blocked
from concord.console.sources import open_tasks_of
from concord.events import tables as et
from concord.matching import tables as mt
from concord.observability import tables as ot
from concord.storage import queries
from concord.storage import tables as t
from concord.views import GoldenRecordPublic, golden_view

TIMELINE_LIMIT = 60


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # change | command
    system: str
    entity: str
    what: str
    outcome: str
    mapping_version: str | None = None


@dataclass
class TimelineGroup:
    correlation_id: str
    started: datetime
    entries: list[TimelineEntry]


@dataclass
class Customer360:
    view: GoldenRecordPublic
    related: list[GoldenRecordPublic]
    blocked: list[BlockedReason]
    timeline: list[TimelineGroup]
    pending_approvals: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: list[dict[str, Any]] = field(default_factory=list)

    def of(self, entity: str) -> list[GoldenRecordPublic]:
        return [r for r in self.related if r.entity == entity]


def _record(conn: Connection, canonical_id: str) -> GoldenRecord | None:
    return queries.golden_record(conn, canonical_id)


def related_ids(conn: Connection, account_id: str) -> list[str]:
    links = ot.ops_customer_links.c
    return list(conn.execute(select(links.canonical_id).where(links.account_id == account_id)
                             .order_by(links.entity, links.canonical_id).limit(200)).scalars())


def load_customer(conn: Connection, customer_id: str) -> Customer360 | None:
    record = _record(conn, customer_id)
    if record is None or record.entity != "account":
        return None
    view = golden_view(record, queries.bindings_of(conn, customer_id))
    related = []
    for rid in related_ids(conn, customer_id):
        other = _record(conn, rid)
        if other is not None:
            related.append(golden_view(other, queries.bindings_of(conn, rid)))
    ids = [customer_id, *(r.id for r in related)]
    commands = _commands(conn, ids)
    approvals = [a for a in queries.approvals(conn, record.tenant, "pending", limit=500) if a["canonical_id"] in ids]
    tasks = open_tasks_of(conn, ids)
    facts = _facts(record, related, _commands(conn, ids, failed_only=True), _dead_letters(conn, ids), approvals,
                   tasks)
    facts.duplicate_reviews = _reviews(conn, record.tenant, customer_id)
    return Customer360(view=view, related=related, blocked=why_blocked(facts),
                       timeline=_timeline(conn, ids, commands), pending_approvals=approvals, open_tasks=tasks)


def _facts(record: GoldenRecord, related: list[GoldenRecordPublic], failed: list[dict[str, Any]],
           letters: list[dict[str, Any]], approvals: list[dict[str, Any]],
           tasks: list[dict[str, Any]]) -> CustomerFacts:
    def system_of(path: str) -> str | None:
        fv = record.fields.get(path)
        return None if fv is None else fv.provenance.system

    state, credit = record.value("lifecycle_state"), record.value("credit_status")
    return CustomerFacts(
        lifecycle_state=state if isinstance(state, str) else None, lifecycle_system=system_of("lifecycle_state"),
        credit_status=credit if isinstance(credit, str) else None, credit_system=system_of("credit_status"),
        pending_approvals=approvals, failed_commands=failed,
        dead_letters=letters, open_tasks=tasks,
        related=[{"entity": r.entity, "id": r.id, "status": r.record.get("status"),
                  "system": r.fields["status"].system if "status" in r.fields else None} for r in related])


def _commands(conn: Connection, ids: list[str], failed_only: bool = False) -> list[dict[str, Any]]:
    """The newest commands for the timeline, or every command that failed for good (however old)."""
    o = t.outbox.c
    query = (select(o.seq, o.type, o.target, o.entity, o.canonical_id, o.correlation_id, o.created_at,
                    o.published_at, o.failed_at, o.last_error, o.attempts)
             .where(o.canonical_id.in_(ids), o.kind == "command").order_by(o.seq.desc()).limit(TIMELINE_LIMIT))
    if failed_only:
        query = query.where(o.published_at.is_(None), o.failed_at.is_not(None))
    return [dict(r._mapping) for r in conn.execute(query)]


def _reviews(conn: Connection, tenant: str, customer_id: str) -> list[dict[str, Any]]:
    """Pending match reviews that involve this customer, with the other record of the pair."""
    r = mt.match_reviews.c
    rows = conn.execute(select(r.left_id, r.right_id, r.score).where(
        r.tenant == tenant, r.entity == "account", r.status == "pending",
        or_(r.left_id == customer_id, r.right_id == customer_id)).limit(20))
    return [{"other": row.right_id if row.left_id == customer_id else row.left_id, "score": float(row.score)}
            for row in rows]


def _dead_letters(conn: Connection, ids: list[str]) -> list[dict[str, Any]]:
    d = et.event_dead_letters.c
    rows = conn.execute(select(d.id, d.subscription, d.type, d.error, d.event_id)
                        .where(d.customer_key.in_(ids), d.status == "dead").limit(50))
    return [dict(r._mapping) for r in rows]


def _timeline(conn: Connection, ids: list[str], commands: list[dict[str, Any]]) -> list[TimelineGroup]:
    c = t.change_log.c
    rows = conn.execute(select(c.seq, c.correlation_id, c.system, c.entity, c.status, c.received_at,
                               c.source_ts_us, c.mapping_version, c.decision)
                        .where(c.canonical_id.in_(ids)).order_by(c.seq.desc()).limit(TIMELINE_LIMIT)).all()
    groups: dict[str, list[TimelineEntry]] = {}
    for r in rows:
        applied = orjson.loads(r.decision).get("applied", [])
        what = ("set " + ", ".join(applied[:6]) + ("…" if len(applied) > 6 else "")) if applied else "no field changed"
        groups.setdefault(r.correlation_id, []).append(TimelineEntry(
            at=us_to_ts(r.source_ts_us), kind="change", system=r.system, entity=r.entity, what=what,
            outcome=r.status, mapping_version=r.mapping_version))
    for cmd in commands:
        outcome = "failed" if cmd["failed_at"] else "delivered" if cmd["published_at"] else "pending"
        groups.setdefault(cmd["correlation_id"], []).append(TimelineEntry(
            at=datetime.fromtimestamp(cmd["created_at"], UTC), kind="command", system=cmd["target"],
            entity=cmd["entity"], what=cmd["type"], outcome=outcome))
    out = [TimelineGroup(cid, min(e.at for e in entries), sorted(entries, key=lambda e: e.at))
           for cid, entries in groups.items()]
    return sorted(out, key=lambda g: g.started, reverse=True)
