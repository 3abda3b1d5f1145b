"""SQL of the delivery side: pending commands, their outcome, bindings of created records, capture cursors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

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


class DeliveryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pending(self, limit: int) -> list[PendingCommand]:
        """Undelivered commands in commit order, deferred ones included (they hold back their customer)."""
        o = t.outbox.c
        query = (select(o.seq, o.tenant, o.target, o.entity, o.canonical_id, o.attempts, o.next_attempt_at, o.payload)
                 .where(o.kind == "command", o.published_at.is_(None), o.failed_at.is_(None))
                 .order_by(o.seq).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [PendingCommand(r.seq, r.tenant, r.target, r.entity, r.canonical_id, r.attempts, r.next_attempt_at,
                               orjson.loads(r.payload)) for r in rows]

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
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == cmd.seq).values(
                attempts=cmd.attempts + 1, failed_at=time.time(), last_error=error[:2000]))

    def cursor(self, tenant: str, system: str, obj: str) -> str | None:
        c = t.sync_cursors.c
        with self.engine.connect() as conn:
            query = select(c.cursor).where(c.tenant == tenant, c.system == system, c.object == obj)
            return conn.execute(query).scalar()

    def save_cursor(self, tenant: str, system: str, obj: str, cursor: str | None) -> None:
        c = t.sync_cursors.c
        with self.engine.begin() as conn:
            done = conn.execute(update(t.sync_cursors).where(
                c.tenant == tenant, c.system == system, c.object == obj).values(cursor=cursor, updated_at=time.time()))
            if done.rowcount == 0:
                conn.execute(insert(t.sync_cursors).values(tenant=tenant, system=system, object=obj, cursor=cursor,
                                                           updated_at=time.time()))

