"""The durable operational figures, counted in the database: what `/metrics` exports and the dashboard shows.

Counts over the big append-only tables (change log, outbox) come from the all-time totals `OpsProjector`
keeps (call `catch_up()` first: then they equal a COUNT over the table, without scanning a million rows);
state that changes after insert (undelivered and failed commands, approvals, dead letters, lag) is counted
through indexes or on small tables. Exception tasks (issue #5) are read through `open_task_counts`, which
answers nothing until the tasks table exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from concord.console.sources import open_task_counts as counted_tasks  # the one reader of #5's tasks
from concord.events import tables as et
from concord.matching import tables as mt
from concord.observability.projector import totals_by_key
from concord.storage import tables as t

DUPLICATE_EVENT = "DuplicateDetected"


@dataclass
class Snapshot:
    changes: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    rejected_fields: dict[tuple[str, str], int] = field(default_factory=dict)
    quality: dict[tuple[str, str, str], int] = field(default_factory=dict)
    commands: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    failed_syncs: dict[tuple[str, str], int] = field(default_factory=dict)
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    replays: dict[str, tuple[int, int]] = field(default_factory=dict)
    dead_letters: dict[tuple[str, str], int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    open_tasks: dict[tuple[str, str], int] = field(default_factory=dict)


def snapshot(conn: Connection) -> Snapshot:
    snap = Snapshot(changes=change_counts(conn), rejected_fields=rejected_fields(conn), quality=quality(conn),
                    events=event_counts(conn), replays=replay_counts(conn), dead_letters=dead_letter_counts(conn),
                    lag=event_lag(conn), open_tasks=open_task_counts(conn))
    snap.commands, snap.failed_syncs = command_counts(conn)
    snap.duplicates = {}
    for (tenant, kind), n in snap.events.items():
        if kind == DUPLICATE_EVENT:
            snap.duplicates[tenant] = snap.duplicates.get(tenant, 0) + n
    return snap


def change_counts(conn: Connection) -> dict[tuple[str, str, str, str], int]:
    out = {}
    for (tenant, system, metric), n in totals_by_key(conn, "changes:").items():
        _, entity, status = metric.split(":", 2)
        out[(tenant, system, entity, status)] = n
    return out


def rejected_fields(conn: Connection) -> dict[tuple[str, str], int]:
    return {(tenant, system): n for (tenant, system, _), n in totals_by_key(conn, "rejected_fields").items()}


def quality(conn: Connection) -> dict[tuple[str, str, str], int]:
    """Data-quality exceptions: changes that had fields refused, steward approvals still pending, possible
    duplicates awaiting a match review, and changes held back by the online duplicate check."""
    a = t.approvals.c
    out: dict[tuple[str, str, str], int] = {}
    for (tenant, system, _), n in totals_by_key(conn, "changes_with_refusals").items():
        out[(tenant, system, "refused_fields")] = n
    for tenant, system, n in conn.execute(select(a.tenant, a.system, func.count()).where(a.status == "pending")
                                          .group_by(a.tenant, a.system)):
        out[(tenant, system, "awaiting_steward")] = int(n)
    r, h = mt.match_reviews.c, mt.held_changes.c
    for tenant, n in conn.execute(select(r.tenant, func.count()).where(r.status == "pending").group_by(r.tenant)):
        out[(tenant, "", "duplicate_review")] = int(n)
    for tenant, system, n in conn.execute(select(h.tenant, h.system, func.count()).where(h.status == "held")
                                          .group_by(h.tenant, h.system)):
        out[(tenant, system, "held_for_review")] = int(n)
    return out


def command_counts(conn: Connection) -> tuple[dict[tuple[str, str, str, str], int], dict[tuple[str, str], int]]:
    """Per (tenant, system, type): undelivered commands are few and found through the unpublished index;
    delivered = every command ever queued (a projected total) minus those."""
    o = t.outbox.c
    open_rows = (select(o.tenant, o.target, o.type, o.failed_at.is_not(None).label("failed"), func.count())
                 .where(o.published_at.is_(None), o.kind == "command")
                 .group_by(o.tenant, o.target, o.type, "failed"))
    commands: dict[tuple[str, str, str, str], int] = {}
    failed: dict[tuple[str, str], int] = {}
    undelivered: dict[tuple[str, str, str], int] = {}
    for tenant, system, op, is_failed, n in conn.execute(open_rows):
        commands[(tenant, system, op, "failed" if is_failed else "pending")] = int(n)
        undelivered[(tenant, system, op)] = undelivered.get((tenant, system, op), 0) + int(n)
        if is_failed:
            failed[(tenant, system)] = failed.get((tenant, system), 0) + int(n)
    for (tenant, system, metric), n in totals_by_key(conn, "commands:").items():
        op = metric.split(":", 1)[1]
        commands[(tenant, system, op, "delivered")] = n - undelivered.get((tenant, system, op), 0)
    return commands, failed


def event_counts(conn: Connection) -> dict[tuple[str, str], int]:
    return {(tenant, metric.removeprefix("event_")): n
            for (tenant, _, metric), n in totals_by_key(conn, "event_").items()}


def replay_counts(conn: Connection) -> dict[str, tuple[int, int]]:
    r = et.event_replays.c
    rows = conn.execute(select(r.subscription, func.count(), func.coalesce(func.sum(r.delivered), 0))
                        .group_by(r.subscription))
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def dead_letter_counts(conn: Connection) -> dict[tuple[str, str], int]:
    d = et.event_dead_letters.c
    rows = conn.execute(select(d.subscription, d.status, func.count()).group_by(d.subscription, d.status))
    return {(r[0], r[1]): int(r[2]) for r in rows}


def event_lag(conn: Connection) -> dict[str, int]:
    """Per subscription: events of the embedded log past its committed offset, summed over partitions."""
    off, log = et.event_offsets.c, et.event_log.c
    lag: dict[str, int] = {}
    for sub, partition, committed in conn.execute(select(off.subscription, off.partition, off.committed)):
        behind = conn.execute(select(func.count()).where(log.partition == partition, log.offset > committed)).scalar()
        lag[sub] = lag.get(sub, 0) + int(behind or 0)
    return lag


def open_task_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Open exception tasks per (tenant, kind), read where the console reads the inbox."""
    return counted_tasks(conn)
