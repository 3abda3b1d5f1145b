"""The outbox relay: publishes the event rows the ingest path committed with the golden record, then marks them.

No dual write: the log accepts an event first and the outbox row is marked published afterwards. A crash
between the two publishes the row again on the next run, and the log drops it by event id. An event that fails
its schema is refused here, marked failed with the reason, and never reaches the log or any subscriber.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import Engine, select, update

from concord.events.envelope import EventEnvelope, EventLog
from concord.events.registry import SchemaRegistry, SchemaViolation
from concord.storage import tables as st


@dataclass
class RelayReport:
    published: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def publish(log: EventLog, registry: SchemaRegistry, events: Sequence[EventEnvelope]) -> int:
    """Validate every event, then append them all; one invalid event refuses the whole call (nothing appended)."""
    for event in events:
        registry.validate(event)
    return log.append(events)


def parse_envelope(raw: str, registry: SchemaRegistry) -> EventEnvelope:
    try:
        envelope = EventEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()]
        raise SchemaViolation("(envelope)", 0, problems) from exc
    registry.validate(envelope)
    return envelope


@dataclass
class OutboxRelay:
    engine: Engine
    log: EventLog
    registry: SchemaRegistry

    def run_once(self, limit: int = 1000) -> RelayReport:
        o = st.outbox.c
        query = (select(o.seq, o.payload, o.attempts).where(
            o.kind == "event", o.published_at.is_(None), o.failed_at.is_(None)).order_by(o.seq).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        report = RelayReport()
        good: list[tuple[int, EventEnvelope]] = []
        for row in rows:
            try:
                good.append((row.seq, parse_envelope(row.payload, self.registry)))
            except SchemaViolation as exc:
                self._refuse(row.seq, row.attempts, str(exc))
                report.rejected += 1
                report.errors.append(f"outbox #{row.seq}: {exc}")
        if good:
            appended = self.log.append([env for _, env in good])
            self._mark_published([seq for seq, _ in good])
            report.published = appended
            report.duplicates = len(good) - appended
        return report

    def drain(self, rounds: int = 1000, limit: int = 1000) -> RelayReport:
        total = RelayReport()
        for _ in range(rounds):
            report = self.run_once(limit)
            total.published += report.published
            total.duplicates += report.duplicates
            total.rejected += report.rejected
            total.errors += report.errors
            if report.published + report.duplicates + report.rejected == 0:
                break
        return total

    def _mark_published(self, seqs: list[int]) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            for i in range(0, len(seqs), 500):
                conn.execute(update(st.outbox).where(st.outbox.c.seq.in_(seqs[i:i + 500])).values(
                    published_at=now, last_error=None))

    def _refuse(self, seq: int, attempts: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(st.outbox).where(st.outbox.c.seq == seq).values(
                failed_at=time.time(), attempts=attempts + 1, last_error=error[:2000]))
