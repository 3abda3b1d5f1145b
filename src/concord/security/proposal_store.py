"""What mapping and ownership change proposals share: their rows (a JSON payload and a stored dry-run), the
"still open" check, rejection, and the recent traffic a dry-run replays. The flows differ only in what is
proposed and how it is put in force (`security.proposals`, `security.ownership_changes`)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Connection, Row, Table, select, update

from concord.storage.tables import change_log


class ProposalError(Exception):
    """A proposal cannot go on; `status` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _decoded(row: Row[Any], payload: str) -> dict[str, Any]:
    out = dict(row._mapping)
    out[payload] = orjson.loads(out[payload])
    out["dry_run"] = None if out["dry_run"] is None else orjson.loads(out["dry_run"])
    return out


def get_proposal(conn: Connection, table: Table, payload: str, proposal_id: str, noun: str) -> dict[str, Any]:
    row = conn.execute(select(table).where(table.c.id == proposal_id)).first()
    if row is None:
        raise ProposalError(404, f"no {noun} proposal {proposal_id}")
    return _decoded(row, payload)


def list_proposals(conn: Connection, table: Table, payload: str, status: str | None,
                   limit: int, tenant: str | None = None) -> list[dict[str, Any]]:
    """Newest first; `tenant` (for tables with a tenant column) keeps only that tenant's proposals."""
    query = select(table).order_by(table.c.proposed_at.desc()).limit(limit)
    if status is not None:
        query = query.where(table.c.status == status)
    if tenant is not None:
        query = query.where(table.c.tenant == tenant)
    return [_decoded(row, payload) for row in conn.execute(query)]


def require_open(proposal: dict[str, Any]) -> None:
    if proposal["status"] != "proposed":
        raise ProposalError(409, f"proposal {proposal['id']} is {proposal['status']}, not proposed")


def mark_rejected(conn: Connection, table: Table, proposal_id: str, actor: str, reason: str | None) -> None:
    conn.execute(update(table).where(table.c.id == proposal_id).values(
        status="rejected", approved_by=actor, approved_at=time.time(), reason=reason))


def recent_changes(conn: Connection, limit: int, entity: str | None = None,
                   tenant: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` change-log rows (of one entity, of one tenant when given), newest first: what a
    dry-run replays."""
    c = change_log.c
    query = select(c.change_id, c.tenant, c.system, c.entity, c.canonical_id, c.payload)
    if entity is not None:
        query = query.where(c.entity == entity)
    if tenant is not None:
        query = query.where(c.tenant == tenant)
    return [dict(r._mapping) for r in conn.execute(query.order_by(c.seq.desc()).limit(limit))]
