"""Outbound delivery in scale mode: each worker delivers the commands of the partitions it holds, through
connectors whose rate governors share one store (Redis) across workers.

Commands are partitioned by their golden record (`command_partition`), so one worker at a time delivers a
customer's commands, in outbox order. A takeover can repeat the command a killed worker was sending; creates
carry the record's id as idempotency key and updates the causing change's, which is what the connectors'
exactly-once writes rely on (at-least-once call, once effect).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from sqlalchemy import Engine, text

from concord.delivery.loop import DeliveryLoop
from concord.delivery.store import DeliveryStore, PendingCommand
from concord.scale.partitions import command_partition_sql

__all__ = ["DeliveryLoop", "PartitionedDeliveryStore"]  # the loop lives in delivery/ since decision 078


class PartitionedDeliveryStore(DeliveryStore):
    """`pending` narrowed to the commands of the partitions `owned()` names (PostgreSQL only)."""

    def __init__(self, engine: Engine, partitions: int, owned: Callable[[], list[int]]) -> None:
        super().__init__(engine)
        self.partitions = partitions
        self.owned = owned

    def pending(self, limit: int) -> list[PendingCommand]:
        owned = self.owned()
        if not owned:
            return []
        part = command_partition_sql("canonical_id", self.partitions)
        sql = text("SELECT seq, tenant, target, entity, canonical_id, attempts, next_attempt_at, payload, message_id,"
                   " correlation_id FROM outbox WHERE kind = 'command' AND published_at IS NULL AND failed_at IS NULL"
                   f" AND {part} = ANY(:owned) ORDER BY seq LIMIT :limit")
        with self.engine.connect() as conn:
            rows = conn.execute(sql, {"owned": owned, "limit": limit}).all()
        return [PendingCommand(r.seq, r.tenant, r.target, r.entity, r.canonical_id, r.attempts, r.next_attempt_at,
                               orjson.loads(r.payload), r.message_id, r.correlation_id) for r in rows]
