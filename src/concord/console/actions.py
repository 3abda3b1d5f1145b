"""What console forms do besides calling existing services: requeue a failed outbound command, and apply a
steward's corrected data through the normal ingest path (gate, golden record, outbox in one transaction)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, update

from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.prepare import Rejected, prepare
from concord.ingest.service import IngestService
from concord.ownership.gate import STEWARD
from concord.storage import queries
from concord.storage import tables as t


class NotRetryable(ValueError):
    pass


def requeue_command(engine: Engine, seq: int) -> None:
    """Give a failed command a fresh start: the dispatcher delivers it on its next run."""
    o = t.outbox.c
    with engine.begin() as conn:
        done = conn.execute(update(t.outbox).where(o.seq == seq, o.kind == "command", o.failed_at.is_not(None))
                            .values(failed_at=None, attempts=0, next_attempt_at=time.time(), last_error=None))
    if done.rowcount != 1:
        raise NotRetryable(f"command {seq} is not a failed command")


def steward_correction(service: IngestService, canonical_id: str, fields: dict[str, Any], actor: str,
                       correlation_id: str | None = None, tenant: str = "*") -> ChangePublic | ChangeError:
    """Write corrected canonical values as a steward decision: validated like any change, then applied with
    `approved_by` set — the gate lets an approved value past the field's owner, and provenance names the actor."""
    with service.engine.connect() as conn:
        record = queries.golden_record(conn, canonical_id)
    if record is None or tenant not in ("*", record.tenant):
        return ChangeError(status=404, title="Not found", detail=f"no golden record {canonical_id}")
    change = ChangeCreate(tenant=record.tenant, system=STEWARD, entity=record.entity, external_id=canonical_id,
                          canonical_id=canonical_id, fields=fields, source_ts=datetime.now(UTC),
                          idempotency_key=f"console:{actor}:{new_id()}", correlation_id=correlation_id)
    try:
        prepared = prepare(service.runtime, change)
    except Rejected as exc:
        return exc.error
    return service.submit_prepared([replace(prepared, approved_by=actor)]).result()[0]
