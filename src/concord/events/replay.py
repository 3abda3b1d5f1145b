"""Replay: deliver a stretch of the log to one subscription again, e.g. after fixing a subscriber or
rebuilding a projection. Safe at any time because subscribers are idempotent by event id; the ledger is not
consulted (that is the point) but is completed, and every replay is recorded with its counts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update

from concord.events import tables as t
from concord.events.consumer import SubscriptionRunner
from concord.events.envelope import StoredEvent


@dataclass
class ReplayReport:
    replay_id: int = 0
    scanned: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _wanted(runner: SubscriptionRunner, event: StoredEvent, customer: str | None, event_type: str | None) -> bool:
    env = event.envelope
    return ((customer is None or env.customer_key == customer) and (event_type is None or env.type == event_type)
            and runner.accepts(env))


def replay(runner: SubscriptionRunner, start: int | datetime, customer: str | None = None,
           event_type: str | None = None, batch: int = 500) -> ReplayReport:
    report = ReplayReport(replay_id=_record_start(runner, start, customer, event_type))
    position: int | datetime = start
    while True:
        events = runner.log.read(position, batch)
        if not events:
            break
        report.scanned += len(events)
        _deliver(runner, [e for e in events if _wanted(runner, e, customer, event_type)], report)
        position = events[-1].offset + 1
    _record_end(runner, report)
    return report


def _deliver(runner: SubscriptionRunner, events: list[StoredEvent], report: ReplayReport) -> None:
    p = t.event_processed.c
    with runner.engine.begin() as tx:
        done = []
        for event in events:
            error = runner.attempt(tx, event.envelope)
            if error is None:
                report.delivered += 1
                done.append(event.envelope.event_id)
            else:
                report.failed += 1
                report.errors.append(f"{event.envelope.type} {event.envelope.event_id}: {error}")
        runner.subscriber.flush(tx)
        known = set(tx.execute(select(p.event_id).where(p.subscription == runner.name, p.event_id.in_(done)))
                    .scalars()) if done else set()
        runner.store.mark_processed(tx, runner.name, [e for e in done if e not in known])


def _record_start(runner: SubscriptionRunner, start: int | datetime, customer: str | None,
                  event_type: str | None) -> int:
    label = str(start) if isinstance(start, int) else start.isoformat()
    with runner.engine.begin() as conn:
        result = conn.execute(insert(t.event_replays).values(
            subscription=runner.name, start=label, customer_key=customer, type=event_type, started_at=time.time(),
            scanned=0, delivered=0, failed=0))
        key = result.inserted_primary_key
        return int(key[0]) if key is not None else 0


def _record_end(runner: SubscriptionRunner, report: ReplayReport) -> None:
    with runner.engine.begin() as conn:
        conn.execute(update(t.event_replays).where(t.event_replays.c.id == report.replay_id).values(
            finished_at=time.time(), scanned=report.scanned, delivered=report.delivered, failed=report.failed))
