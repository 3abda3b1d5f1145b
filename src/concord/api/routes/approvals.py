"""Pending steward decisions on non-owner writes (ownership mode `approval`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from concord.api.deps import AppContext, context
from concord.api.problems import Problem
from concord.ingest import stewardship
from concord.ingest.models import ChangeError, ChangePublic
from concord.storage import queries

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
Ctx = Annotated[AppContext, Depends(context)]


class ApprovalPublic(BaseModel):
    id: str
    tenant: str
    entity: str
    canonical_id: str
    field: str
    value: Any
    current: Any
    owner: str
    system: str
    status: str
    change_id: str
    correlation_id: str
    decided_by: str | None
    reason: str | None


class Decision(BaseModel):
    actor: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=500)


def _public(row: dict[str, Any]) -> ApprovalPublic:
    return ApprovalPublic.model_validate({**row, "value": orjson.loads(row["value"]),
                                          "current": orjson.loads(row["current"])})


@router.get("", response_model=list[ApprovalPublic])
def list_approvals(ctx: Ctx, status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = "pending",
                   tenant: str | None = None) -> list[ApprovalPublic]:
    with ctx.engine.connect() as conn:
        return [_public(r) for r in queries.approvals(conn, tenant, status)]


@router.post("/{approval_id}/approve", response_model=ChangePublic)
async def approve(approval_id: str, decision: Decision, ctx: Ctx) -> ChangePublic:
    try:
        outcome = await asyncio.to_thread(stewardship.approve, ctx.ingest, approval_id, decision.actor, decision.reason)
    except stewardship.ApprovalNotFound as exc:
        raise Problem(404, "Not found", f"no approval {approval_id}") from exc
    except stewardship.ApprovalClosed as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
    if isinstance(outcome, ChangeError):
        raise Problem(outcome.status, outcome.title, outcome.detail, field=outcome.field)
    return outcome


@router.post("/{approval_id}/reject", status_code=204)
def reject(approval_id: str, decision: Decision, ctx: Ctx) -> None:
    try:
        stewardship.reject(ctx.engine, approval_id, decision.actor, decision.reason)
    except stewardship.ApprovalNotFound as exc:
        raise Problem(404, "Not found", f"no approval {approval_id}") from exc
    except stewardship.ApprovalClosed as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
