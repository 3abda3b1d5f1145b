"""The durable operational figures, counted in the database: what `/metrics` exports and the dashboard shows.

One function per figure, each a grouped count over an indexed or small table, so a scrape stays cheap.
Exception tasks (issue #5) are read through `open_task_counts`, which answers nothing until the tasks table
exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, column, func, inspect, select, table

from concord.events import tables as et
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
    c = t.change_log.c
    rows = conn.execute(select(c.tenant, c.system, c.entity, c.status, func.count())
                        .group_by(c.tenant, c.system, c.entity, c.status))
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


def rejected_fields(conn: Connection) -> dict[tuple[str, str], int]:
    c = t.change_log.c
    rows = conn.execute(select(c.tenant, c.system, func.sum(c.rejected)).where(c.rejected > 0)
                        .group_by(c.tenant, c.system))
    return {(r[0], r[1]): int(r[2]) for r in rows}


def quality(conn: Connection) -> dict[tuple[str, str, str], int]:
    """Data-quality exceptions: changes that had fields refused, and steward approvals still pending."""
    c, a = t.change_log.c, t.approvals.c
    out: dict[tuple[str, str, str], int] = {}
    for tenant, system, n in conn.execute(select(c.tenant, c.system, func.count()).where(c.rejected > 0)
                                          .group_by(c.tenant, c.system)):
        out[(tenant, system, "refused_fields")] = int(n)
    for tenant, system, n in conn.execute(select(a.tenant, a.system, func.count()).where(a.status == "pending")
                                          .group_by(a.tenant, a.system)):
        out[(tenant, system, "awaiting_steward")] = int(n)
    return out


def command_counts(conn: Connection) -> tuple[dict[tuple[str, str, str, str], int], dict[tuple[str, str], int]]:
    o = t.outbox.c
    state = (select(o.tenant, o.target, o.type, o.published_at.is_not(None).label("done"),
                    o.failed_at.is_not(None).label("failed"), func.count())
             .where(o.kind == "command").group_by(o.tenant, o.target, o.type, "done", "failed"))
    commands: dict[tuple[str, str, str, str], int] = {}
    failed: dict[tuple[str, str], int] = {}
    for tenant, system, op, done, is_failed, n in conn.execute(state):
        outcome = "failed" if is_failed else "delivered" if done else "pending"
        key = (tenant, system, op, outcome)
        commands[key] = commands.get(key, 0) + int(n)
        if is_failed:
            failed[(tenant, system)] = failed.get((tenant, system), 0) + int(n)
    return commands, failed


def event_counts(conn: Connection) -> dict[tuple[str, str], int]:
    o = t.outbox.c
    rows = conn.execute(select(o.tenant, o.type, func.count()).where(o.kind == "event").group_by(o.tenant, o.type))
    return {(r[0], r[1]): int(r[2]) for r in rows}


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
    """Open exception tasks per (tenant, kind) once the tasks table of issue #5 exists; empty before."""
    if not inspect(conn).has_table("tasks"):
        return {}
    tasks = table("tasks", column("tenant"), column("kind"), column("status"))
    rows = conn.execute(select(tasks.c.tenant, tasks.c.kind, func.count()).where(tasks.c.status == "open")
                        .group_by(tasks.c.tenant, tasks.c.kind))
    return {(r[0], r[1]): int(r[2]) for r in rows}
