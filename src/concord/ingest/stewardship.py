"""Steward decisions on pending non-owner writes: approve applies the value through the normal path."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from sqlalchemy import Engine, update

from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.prepare import PreparedChange
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.storage import tables as t


class ApprovalNotFound(LookupError):
    pass


class ApprovalClosed(ValueError):
    """The approval was already decided; deciding twice is refused (409)."""


def _load_pending(engine: Engine, approval_id: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = queries.approval(conn, approval_id)
    if row is None:
        raise ApprovalNotFound(approval_id)
    if row["status"] != "pending":
        raise ApprovalClosed(f"approval {approval_id} is already {row['status']}")
    return row


def _close(engine: Engine, approval_id: str, status: str, actor: str, reason: str | None) -> None:
    a = t.approvals.c
    with engine.begin() as conn:
        done = conn.execute(update(t.approvals).where(a.id == approval_id, a.status == "pending").values(
            status=status, decided_by=actor, decided_at=time.time(), reason=reason)).rowcount
    if done != 1:
        raise ApprovalClosed(f"approval {approval_id} was decided concurrently")


def approve(service: IngestService, approval_id: str, actor: str,
            reason: str | None = None) -> ChangePublic | ChangeError:
    """Apply the proposed value as if its owner had written it, recording who approved it."""
    row = _load_pending(service.engine, approval_id)
    with service.engine.connect() as conn:
        origin = queries.change(conn, str(row["change_id"]))
    assert origin is not None, "an approval always refers to a logged change"
    source_ts_us = int(str(row["source_ts_us"]))
    request = ChangeCreate(
        tenant=str(row["tenant"]), system=str(row["system"]), entity=str(row["entity"]),
        external_id=str(origin["external_id"]), fields={}, idempotency_key=f"approval:{approval_id}",
        source_ts=datetime.fromtimestamp(source_ts_us / 1e6, tz=UTC), correlation_id=str(row["correlation_id"]),
        canonical_id=str(row["canonical_id"]))
    prepared = PreparedChange(request=request, change_id=new_id(), correlation_id=str(row["correlation_id"]),
                              source_ts_us=source_ts_us, values={str(row["field"]): orjson.loads(str(row["value"]))},
                              references={}, mapping_version=origin["mapping_version"], approved_by=actor)
    outcome = service.submit_prepared([prepared]).result()[0]
    _close(service.engine, approval_id, "approved", actor, reason)
    return outcome


def reject(engine: Engine, approval_id: str, actor: str, reason: str | None = None) -> None:
    _load_pending(engine, approval_id)
    _close(engine, approval_id, "rejected", actor, reason)
