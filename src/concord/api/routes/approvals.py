"""Pending steward decisions on non-owner writes (ownership mode `approval`)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from concord.api.deprecation import STATED_ACTOR, announce_fields
from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.ingest import stewardship
from concord.ingest.models import ChangeError, ChangePublic
from concord.security import audit
from concord.security.scopes import Principal, Scope
from concord.storage import queries

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.CHANGES_READ))]
Decider = Annotated[Principal, Depends(authorize(Scope.APPROVALS_DECIDE))]


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
    # Not pydantic's `deprecated=`: that warns on every read of the attribute, and _audit reads it.
    actor: str | None = Field(default=None, min_length=1, max_length=128, json_schema_extra={"deprecated": True},
                              description="ignored: the decider is the calling key (deprecated, see CHANGELOG)")
    reason: str | None = Field(default=None, max_length=500)



def _public(row: dict[str, Any]) -> ApprovalPublic:
    return ApprovalPublic.model_validate({**row, "value": orjson.loads(row["value"]),
                                          "current": orjson.loads(row["current"])})


@router.get("", response_model=list[ApprovalPublic])
def list_approvals(ctx: Ctx, status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = "pending",
                   tenant: str | None = None, *, principal: Reader) -> list[ApprovalPublic]:
    with ctx.engine.connect() as conn:
        return [_public(r) for r in queries.approvals(conn, tenant_filter(principal, tenant), status)]


def _check(ctx: AppContext, approval_id: str, principal: Principal) -> dict[str, Any]:
    """The approval, if it exists and is in the caller's tenant."""
    with ctx.engine.connect() as conn:
        row = queries.approval(conn, approval_id)
    if row is None:
        raise Problem(404, "Not found", f"no approval {approval_id}")
    require_tenant(principal, row["tenant"])
    return row


def _audit(ctx: AppContext, row: dict[str, Any], principal: Principal, decision: Decision, verdict: str) -> None:
    """Who decided: the key's name (a deprecated `actor` in the body is kept beside it, never trusted)."""
    with ctx.engine.begin() as conn:
        audit.append(conn, audit.Entry(
            tenant=row["tenant"], actor=principal.actor, action=f"approval.{verdict}", object_type="approval",
            object_id=row["id"], customer=row["canonical_id"], system=row["system"],
            correlation_id=row["correlation_id"], before={"status": "pending"},
            after={"status": verdict, "stated_actor": decision.actor, "reason": decision.reason}))


@router.post("/{approval_id}/approve", response_model=ChangePublic)
async def approve(approval_id: str, decision: Decision, ctx: Ctx, principal: Decider,
                  response: Response) -> ChangePublic:
    announce_fields(response, decision, {"actor": STATED_ACTOR})
    row = await asyncio.to_thread(_check, ctx, approval_id, principal)
    try:
        outcome = await asyncio.to_thread(stewardship.approve, ctx.ingest, approval_id, principal.actor,
                                          decision.reason)
    except stewardship.ApprovalNotFound as exc:
        raise Problem(404, "Not found", f"no approval {approval_id}") from exc
    except stewardship.ApprovalClosed as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
    if isinstance(outcome, ChangeError):
        raise Problem(outcome.status, outcome.title, outcome.detail, field=outcome.field)
    await asyncio.to_thread(_audit, ctx, row, principal, decision, "approved")
    return outcome


@router.post("/{approval_id}/reject", status_code=204)
def reject(approval_id: str, decision: Decision, ctx: Ctx, principal: Decider, response: Response) -> None:
    announce_fields(response, decision, {"actor": STATED_ACTOR})
    row = _check(ctx, approval_id, principal)
    try:
        stewardship.reject(ctx.engine, approval_id, principal.actor, decision.reason)
    except stewardship.ApprovalNotFound as exc:
        raise Problem(404, "Not found", f"no approval {approval_id}") from exc
    except stewardship.ApprovalClosed as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
    _audit(ctx, row, principal, decision, "rejected")
