"""SQL of the consuming side: the processed-event ledger, parked events (retrying, or waiting behind a retrying
event of the same customer) and the dead-letter store. Shared by both log backends."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update

from concord.events import tables as t
from concord.events.envelope import EventEnvelope


@dataclass(frozen=True)
class Parked:
    id: int
    subscription: str
    customer_key: str
    envelope: EventEnvelope
    attempts: int
    not_before: float


@dataclass(frozen=True)
class DeadLetter:
    id: int
    subscription: str
    event_id: str
    customer_key: str
    type: str
    envelope: EventEnvelope
    attempts: int
    error: str
    failed_at: float
    status: str


class ConsumerStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- read side, before a batch ------------------------------------------------------------------------
    def handled(self, conn: Connection, subscription: str, event_ids: Sequence[str]) -> set[str]:
        """Events this subscription already processed, parked or dead-lettered: a redelivery of one is a no-op."""
        p, d = t.event_processed.c, t.event_dead_letters.c
        found: set[str] = set()
        for chunk in _chunks(list(event_ids), 1000):
            found |= set(conn.execute(select(p.event_id).where(p.subscription == subscription,
                                                               p.event_id.in_(chunk))).scalars())
        if conn.execute(select(d.id).where(d.subscription == subscription, d.status == "dead").limit(1)).first():
            for chunk in _chunks(list(event_ids), 1000):
                found |= set(conn.execute(select(d.event_id).where(
                    d.subscription == subscription, d.status == "dead", d.event_id.in_(chunk))).scalars())
        return found

    def parked_now(self, conn: Connection, subscription: str) -> tuple[set[str], set[str]]:
        """(event ids, customers) parked for this subscription — few: only customers whose events are failing."""
        k = t.event_parked.c
        rows = conn.execute(select(k.event_id, k.customer_key).where(k.subscription == subscription)).all()
        return {r.event_id for r in rows}, {r.customer_key for r in rows}

    # -- writes inside the batch transaction ----------------------------------------------------------------
    def mark_processed(self, conn: Connection, subscription: str, event_ids: Sequence[str]) -> None:
        if event_ids:
            now = time.time()
            conn.execute(insert(t.event_processed), [{"subscription": subscription, "event_id": e,
                                                      "processed_at": now} for e in event_ids])

    def park(self, conn: Connection, subscription: str, envelope: EventEnvelope, attempts: int, not_before: float,
             error: str | None) -> None:
        conn.execute(insert(t.event_parked).values(
            subscription=subscription, customer_key=envelope.customer_key, event_id=envelope.event_id,
            envelope=envelope.model_dump_json(), attempts=attempts, not_before=not_before,
            last_error=None if error is None else error[:2000]))

    # -- retries --------------------------------------------------------------------------------------------
    def due_heads(self, subscription: str, now: float, limit: int) -> list[Parked]:
        """The oldest parked event of each customer, when its retry is due."""
        k = t.event_parked.c
        heads = (select(func.min(k.id)).where(k.subscription == subscription).group_by(k.customer_key)
                 .scalar_subquery())
        query = (select(t.event_parked).where(k.id.in_(heads), k.not_before <= now).order_by(k.id).limit(limit))
        with self.engine.connect() as conn:
            return [Parked(r.id, r.subscription, r.customer_key, EventEnvelope.model_validate_json(r.envelope),
                           r.attempts, r.not_before) for r in conn.execute(query)]

    def settle(self, conn: Connection, parked: Parked) -> None:
        conn.execute(delete(t.event_parked).where(t.event_parked.c.id == parked.id))
        self.mark_processed(conn, parked.subscription, [parked.envelope.event_id])

    def reschedule(self, conn: Connection, parked: Parked, attempts: int, not_before: float, error: str) -> None:
        conn.execute(update(t.event_parked).where(t.event_parked.c.id == parked.id).values(
            attempts=attempts, not_before=not_before, last_error=error[:2000]))

    def insert_dead(self, conn: Connection, parked: Parked, attempts: int, error: str) -> None:
        """Move the event to the dead-letter store; the customer's next parked event becomes due."""
        env = parked.envelope
        d = t.event_dead_letters.c
        conn.execute(delete(t.event_parked).where(t.event_parked.c.id == parked.id))
        row = {"customer_key": env.customer_key, "type": env.type, "envelope": env.model_dump_json(),
               "attempts": attempts, "error": error[:4000], "failed_at": time.time(), "status": "dead",
               "resolved_at": None}
        done = conn.execute(update(t.event_dead_letters).where(
            d.subscription == parked.subscription, d.event_id == env.event_id).values(**row))
        if done.rowcount == 0:
            conn.execute(insert(t.event_dead_letters).values(
                subscription=parked.subscription, event_id=env.event_id, **row))

    # -- the dead-letter store (CLI) ------------------------------------------------------------------------
    def dead_letters(self, subscription: str | None = None, status: str = "dead", limit: int = 100
                     ) -> list[DeadLetter]:
        d = t.event_dead_letters.c
        query = select(t.event_dead_letters).where(d.status == status).order_by(d.id).limit(limit)
        if subscription is not None:
            query = query.where(d.subscription == subscription)
        with self.engine.connect() as conn:
            return [_dead(r) for r in conn.execute(query)]

    def dead_letter_by_id(self, letter_id: int) -> DeadLetter | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.event_dead_letters).where(t.event_dead_letters.c.id == letter_id)).first()
        return None if row is None else _dead(row)

    def retry_dead_letter(self, letter: DeadLetter) -> None:
        """Park the event again, due now, with a fresh attempt count; the consumer picks it up on its next run."""
        with self.engine.begin() as conn:
            self.park(conn, letter.subscription, letter.envelope, 0, time.time(), None)
            self._resolve(conn, letter.id, "retried")

    def discard_dead_letter(self, letter: DeadLetter) -> None:
        with self.engine.begin() as conn:
            self._resolve(conn, letter.id, "discarded")

    @staticmethod
    def _resolve(conn: Connection, letter_id: int, status: str) -> None:
        conn.execute(update(t.event_dead_letters).where(t.event_dead_letters.c.id == letter_id).values(
            status=status, resolved_at=time.time()))


def _dead(r: Row[Any]) -> DeadLetter:
    return DeadLetter(r.id, r.subscription, r.event_id, r.customer_key, r.type,
                      EventEnvelope.model_validate_json(r.envelope), r.attempts, r.error, r.failed_at, r.status)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
