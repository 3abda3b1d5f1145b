"""SQL of the delivery side: pending commands, their outcome, bindings of created records, capture cursors."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from concord.ids import new_id
from concord.storage import tables as t


@dataclass(frozen=True)
class PendingCommand:
    seq: int
    tenant: str
    target: str
    entity: str
    canonical_id: str
    attempts: int
    next_attempt_at: float | None
    payload: dict[str, Any]
    message_id: str = ""
    correlation_id: str = ""


class DeliveryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pending(self, limit: int) -> list[PendingCommand]:
        """Undelivered commands in commit order, deferred ones included (they hold back their customer)."""
        o = t.outbox.c
        query = (select(o.seq, o.tenant, o.target, o.entity, o.canonical_id, o.attempts, o.next_attempt_at, o.payload,
                        o.message_id, o.correlation_id)
                 .where(o.kind == "command", o.published_at.is_(None), o.failed_at.is_(None))
                 .order_by(o.seq).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [PendingCommand(r.seq, r.tenant, r.target, r.entity, r.canonical_id, r.attempts, r.next_attempt_at,
                               orjson.loads(r.payload), r.message_id, r.correlation_id) for r in rows]

    def external_id(self, tenant: str, system: str, entity: str, canonical_id: str) -> str | None:
        b = t.bindings.c
        with self.engine.connect() as conn:
            return conn.execute(select(b.external_id).where(
                b.tenant == tenant, b.system == system, b.entity == entity, b.canonical_id == canonical_id)).scalar()

    def delivered(self, cmd: PendingCommand, external_id: str | None, created: bool) -> None:
        """Mark the command done and, for a create, bind the new record — in one transaction."""
        now = time.time()
        with self.engine.begin() as conn:
            if created and external_id is not None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(t.bindings).values(
                            tenant=cmd.tenant, system=cmd.target, entity=cmd.entity, external_id=external_id,
                            canonical_id=cmd.canonical_id, last_sync_at=now, created_at=now))
                except IntegrityError:
                    pass  # already bound by an earlier delivery of the same create
            else:
                b = t.bindings.c
                conn.execute(update(t.bindings).where(
                    b.tenant == cmd.tenant, b.system == cmd.target, b.entity == cmd.entity,
                    b.external_id == external_id).values(last_sync_at=now))
            conn.execute(update(t.outbox).where(t.outbox.c.seq == cmd.seq).values(
                published_at=now, attempts=cmd.attempts + 1, last_error=None))

    def deferred(self, cmd: PendingCommand, error: str, retry_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == cmd.seq).values(
                attempts=cmd.attempts + 1, next_attempt_at=retry_at, last_error=error[:2000]))

    def failed(self, cmd: PendingCommand, error: str) -> None:
        """Mark the command failed and publish SyncFailed for it, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == cmd.seq).values(
                attempts=cmd.attempts + 1, failed_at=time.time(), last_error=error[:2000]))
            conn.execute(insert(t.outbox).values(**sync_failed_row(cmd, error)))

    def cursor(self, tenant: str, system: str, obj: str) -> str | None:
        c = t.sync_cursors.c
        with self.engine.connect() as conn:
            query = select(c.cursor).where(c.tenant == tenant, c.system == system, c.object == obj)
            return conn.execute(query).scalar()

    def has_cursor(self, tenant: str, system: str, obj: str) -> bool:
        """Whether capture of this object ever started (its cursor may still be NULL: an empty system)."""
        c = t.sync_cursors.c
        with self.engine.connect() as conn:
            query = select(c.object).where(c.tenant == tenant, c.system == system, c.object == obj)
            return conn.execute(query).first() is not None

    def save_cursor(self, tenant: str, system: str, obj: str, cursor: str | None,
                    marks: Mapping[str, int] | None = None) -> None:
        """The cursor, and with it (same transaction) the page's capture marks: a crash before this commit
        re-reads the page against the marks it was first read with, so it yields the very same changes."""
        c = t.sync_cursors.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t.sync_cursors).where(
                c.tenant == tenant, c.system == system, c.object == obj).values(cursor=cursor, updated_at=time.time()))
            if done.rowcount == 0:
                conn.execute(insert(t.sync_cursors).values(tenant=tenant, system=system, object=obj, cursor=cursor,
                                                           updated_at=time.time()))
            if marks:
                _save_marks(conn, tenant, system, obj, marks)

    def capture_marks(self, tenant: str, system: str, obj: str, ids: Iterable[str]) -> dict[str, int]:
        """The newest source time (µs) capture assigned to each of `ids` that has one."""
        m = t.capture_marks.c
        wanted = sorted(set(ids))
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = select(m.external_id, m.source_ts_us).where(
                    m.tenant == tenant, m.system == system, m.object == obj,
                    m.external_id.in_(wanted[start:start + 500]))
                found.update({str(row[0]): int(row[1]) for row in conn.execute(query)})
        return found



def _save_marks(conn: Connection, tenant: str, system: str, obj: str, marks: Mapping[str, int]) -> None:
    """One statement per kind (select, update, insert) per page, not per record: marks are written on every
    captured page."""
    m = t.capture_marks.c
    page = (m.tenant == tenant, m.system == system, m.object == obj)
    known = {str(r[0]) for r in conn.execute(select(m.external_id).where(*page, m.external_id.in_(list(marks))))}
    # Marks only move forward (capture never places below a mark), so a plain update keeps the newest.
    updates = [{"xid": xid, "ts": ts} for xid, ts in marks.items() if xid in known]
    if updates:
        conn.execute(update(t.capture_marks).where(*page, m.external_id == bindparam("xid"))
                     .values(source_ts_us=bindparam("ts")), updates)
    inserts = [{"tenant": tenant, "system": system, "object": obj, "external_id": xid, "source_ts_us": ts}
               for xid, ts in marks.items() if xid not in known]
    if inserts:
        conn.execute(insert(t.capture_marks), inserts)


def sync_failed_row(cmd: PendingCommand, error: str) -> dict[str, Any]:
    event_id = new_id()
    data = {"entity": cmd.entity, "canonical_id": cmd.canonical_id, "source_system": "concord",
            "target_system": cmd.target, "operation": str(cmd.payload.get("op", "write")), "error": error[:1000],
            "attempts": cmd.attempts + 1}
    envelope = {"event_id": event_id, "type": "SyncFailed", "schema_version": 1, "tenant": cmd.tenant,
                "customer_key": cmd.canonical_id, "correlation_id": cmd.correlation_id or event_id,
                "causation_id": cmd.message_id or str(cmd.seq), "occurred_at": datetime.now(UTC).isoformat(),
                "data": data}
    return {"message_id": event_id, "tenant": cmd.tenant, "kind": "event", "type": "SyncFailed",
            "target": "lifecycle", "entity": cmd.entity, "canonical_id": cmd.canonical_id,
            "correlation_id": envelope["correlation_id"], "causation_id": envelope["causation_id"],
            "payload": orjson.dumps(envelope).decode(), "created_at": time.time(), "published_at": None,
            "attempts": 0, "next_attempt_at": None, "failed_at": None, "last_error": None}
