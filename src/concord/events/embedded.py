"""The embedded event log: an append-only table in the hub's own database (SQLite or PostgreSQL).

Offsets are global and increase in commit order (appends on PostgreSQL take a transaction-scoped advisory lock,
so a reader never skips an offset that commits late). Each subscription commits one offset per partition: all
events of that partition at or below it are done. What a process has fetched but not acknowledged lives in
memory only, so after a crash everything past the committed offsets is delivered again (at least once; the
consumer's processed-event ledger turns the repeats into no-ops).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, Insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from concord.events import tables as t
from concord.events.envelope import EventEnvelope, StoredEvent, partition_of

_APPEND_LOCK = 0x436F6E63  # advisory lock key for appends on PostgreSQL ("Conc")


@dataclass
class _Cursor:
    """One subscription's delivery state in this process."""

    committed: dict[int, int]
    high: int  # highest offset fetched from the table
    unacked: dict[int, StoredEvent] = field(default_factory=dict)  # offset → event (in flight or nak'd)
    delivered_at: dict[int, float] = field(default_factory=dict)  # in flight only
    retry: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, offset) for nak'd events
    dirty: set[int] = field(default_factory=set)  # partitions whose committed offset is not saved yet
    saved_at: float = 0.0


def _row_event(offset: int, partition: int, envelope: str) -> StoredEvent:
    # model_construct: the envelope was validated just above, the rest are integers from our own table
    return StoredEvent.model_construct(envelope=EventEnvelope.model_validate_json(envelope), partition=partition,
                                       offset=offset, attempt=1)


class EmbeddedLog:
    def __init__(self, engine: Engine, partitions: int = 16, ack_wait_s: float = 30.0,
                 clock: Callable[[], float] = time.time, poll_s: float = 0.005,
                 commit_interval_s: float = 0.0) -> None:
        self.engine = engine
        self.poll_s = poll_s  # how often an empty fetch with a wait looks at the table again
        # Saving positions at most this often takes a write transaction off most batches; after a crash the
        # events acked in the last interval are delivered again and dropped by the processed-event ledger.
        self.commit_interval_s = commit_interval_s
        self.partitions = partitions
        self.ack_wait_s = ack_wait_s
        self.clock = clock
        self._cursors: dict[str, _Cursor] = {}
        self._lock = threading.Lock()

    # -- producing ------------------------------------------------------------------------------------------
    def append(self, events: Sequence[EventEnvelope]) -> int:
        if not events:
            return 0
        ids = [e.event_id for e in events]
        now = time.time()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
            known = set(conn.execute(select(t.event_log.c.event_id).where(t.event_log.c.event_id.in_(ids))).scalars())
            rows = [{"event_id": e.event_id, "partition": partition_of(e.customer_key, self.partitions),
                     "tenant": e.tenant, "customer_key": e.customer_key, "type": e.type,
                     "envelope": e.model_dump_json(), "appended_at": now}
                    for e in dict((e.event_id, e) for e in events).values() if e.event_id not in known]
            if rows:
                conn.execute(self._insert_ignore(conn), rows)
        return len(rows)

    @staticmethod
    def _insert_ignore(conn: Connection) -> Insert:
        maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        return maker(t.event_log).on_conflict_do_nothing(index_elements=["event_id"])

    # -- consuming ------------------------------------------------------------------------------------------
    def fetch(self, subscription: str, max_events: int, wait_s: float = 0.0) -> list[StoredEvent]:
        deadline = time.monotonic() + wait_s
        while True:
            with self._lock:
                cursor = self._cursor(subscription)
                events = self._redeliveries(cursor, max_events)
                if len(events) < max_events:
                    events += self._new_events(cursor, max_events - len(events))
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(self.poll_s)

    def _cursor(self, subscription: str) -> _Cursor:
        cursor = self._cursors.get(subscription)
        if cursor is None:
            o = t.event_offsets.c
            with self.engine.connect() as conn:
                rows = conn.execute(select(o.partition, o.committed).where(o.subscription == subscription)).all()
            committed = {p: 0 for p in range(self.partitions)} | {r.partition: r.committed for r in rows}
            cursor = self._cursors[subscription] = _Cursor(committed=committed, high=min(committed.values()))
        return cursor

    def _redeliveries(self, cursor: _Cursor, limit: int) -> list[StoredEvent]:
        now = self.clock()
        due: list[StoredEvent] = []
        while cursor.retry and cursor.retry[0][0] <= now and len(due) < limit:
            _, offset = heapq.heappop(cursor.retry)
            if offset in cursor.unacked:
                due.append(cursor.unacked[offset])
        expired = [o for o, at in cursor.delivered_at.items() if at + self.ack_wait_s <= now]
        due += [cursor.unacked[o] for o in expired[: max(0, limit - len(due))]]
        redelivered = []
        for event in sorted(due, key=lambda e: e.offset):
            again = event.model_copy(update={"attempt": event.attempt + 1})
            cursor.unacked[event.offset] = again
            cursor.delivered_at[event.offset] = now
            redelivered.append(again)
        return redelivered

    def _new_events(self, cursor: _Cursor, limit: int) -> list[StoredEvent]:
        c = t.event_log.c
        query = (select(c.offset, c.partition, c.envelope).where(c.offset > cursor.high)
                 .order_by(c.offset).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        now = self.clock()
        events = []
        for row in rows:
            cursor.high = row.offset
            if row.offset <= cursor.committed[row.partition]:
                continue  # done before a restart; other partitions lagged behind
            event = _row_event(row.offset, row.partition, row.envelope)
            cursor.unacked[row.offset] = event
            cursor.delivered_at[row.offset] = now
            events.append(event)
        return events

    def ack(self, subscription: str, events: Sequence[StoredEvent]) -> None:
        with self._lock:
            cursor = self._cursor(subscription)
            for event in events:
                cursor.unacked.pop(event.offset, None)
                cursor.delivered_at.pop(event.offset, None)
            cursor.dirty |= self._advance(cursor, set(range(self.partitions)))
            now = time.monotonic()
            if not cursor.dirty or now - cursor.saved_at < self.commit_interval_s:
                return
            changed = {p: cursor.committed[p] for p in cursor.dirty}
            cursor.dirty, cursor.saved_at = set(), now
        self._save(subscription, changed)

    def flush(self) -> None:
        """Persist every subscription's positions now (close does this too)."""
        with self._lock:
            pending = {name: {p: c.committed[p] for p in c.dirty} for name, c in self._cursors.items() if c.dirty}
            for cursor in self._cursors.values():
                cursor.dirty = set()
        for name, changed in pending.items():
            self._save(name, changed)

    def _advance(self, cursor: _Cursor, partitions: set[int]) -> set[int]:
        lowest: dict[int, int] = {}
        for offset, event in cursor.unacked.items():
            if event.partition in partitions and offset < lowest.get(event.partition, offset + 1):
                lowest[event.partition] = offset
        changed = set()
        for p in partitions:
            target = lowest[p] - 1 if p in lowest else cursor.high
            if target > cursor.committed[p]:
                cursor.committed[p] = target
                changed.add(p)
        return changed

    def _save(self, subscription: str, changed: dict[int, int]) -> None:
        o = t.event_offsets.c
        with self.engine.begin() as conn:
            for partition, committed in changed.items():
                done = conn.execute(update(t.event_offsets).where(
                    o.subscription == subscription, o.partition == partition).values(committed=committed))
                if done.rowcount == 0:
                    conn.execute(t.event_offsets.insert().values(
                        subscription=subscription, partition=partition, committed=committed))

    def nak(self, subscription: str, event: StoredEvent, delay_s: float) -> None:
        with self._lock:
            cursor = self._cursor(subscription)
            if event.offset in cursor.unacked:
                cursor.delivered_at.pop(event.offset, None)
                heapq.heappush(cursor.retry, (self.clock() + delay_s, event.offset))

    # -- replay ---------------------------------------------------------------------------------------------
    def read(self, start: int | datetime, max_events: int) -> list[StoredEvent]:
        c = t.event_log.c
        where = c.offset >= start if isinstance(start, int) else c.appended_at >= start.timestamp()
        query = select(c.offset, c.partition, c.envelope).where(where).order_by(c.offset).limit(max_events)
        with self.engine.connect() as conn:
            return [_row_event(r.offset, r.partition, r.envelope) for r in conn.execute(query)]

    def close(self) -> None:
        self.flush()
        self._cursors.clear()
