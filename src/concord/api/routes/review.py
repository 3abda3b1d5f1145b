"""The steward's match review queue: list the pairs, link (same customer) or split (different customers)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.matching import review
from concord.matching.merging import MergeRefused
from concord.security.scopes import Principal, Scope

router = APIRouter(prefix="/api/v1/review", tags=["review"])
Ctx = Annotated[AppContext, Depends(context)]


class Evidence(BaseModel):
    field: str
    left: str
    right: str
    level: str
    weight: float


class ReviewPublic(BaseModel):
    id: str
    tenant: str
    entity: str
    left_id: str = Field(description="the existing customer")
    right_id: str = Field(description="the other customer, or `ext:system:id` for an incoming record held back")
    score: float = Field(description="Fellegi-Sunter match weight (log2 Bayes factor)")
    outcome: str
    reason: str
    source: str
    status: str
    evidence: list[Evidence]
    decided_by: str | None
    decided_at: float | None


class VerdictBody(BaseModel):
    actor: str | None = Field(default=None, min_length=1, max_length=128,
                              description="who decides; defaults to the caller")


class VerdictPublic(BaseModel):
    review_id: str
    status: str
    canonical_id: str
    released: int = Field(description="held changes released into ingest")
    merge_id: str | None = None


@router.get("", response_model=list[ReviewPublic])
def list_reviews(ctx: Ctx, principal: Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))],
                 status: Annotated[str, Query(pattern="^(pending|same|different|auto)$")] = "pending",
                 entity: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                 tenant: str | None = None) -> list[ReviewPublic]:
    with ctx.engine.connect() as conn:
        rows: list[dict[str, Any]] = review.list_reviews(conn, tenant_filter(principal, tenant), status, entity,
                                                         limit)
    return [ReviewPublic.model_validate(r) for r in rows]


async def _decide(ctx: AppContext, principal: Principal, review_id: str, body: VerdictBody,
                  link: bool) -> VerdictPublic:
    decide = review.link if link else review.split
    with ctx.engine.connect() as conn:
        owner = review.review_tenant(conn, review_id)
    if owner is None:
        raise Problem(404, "Not found", f"no review {review_id}")
    require_tenant(principal, owner)
    try:
        verdict = await asyncio.to_thread(decide, ctx.ingest, review_id, body.actor or principal.actor)
    except review.ReviewNotFound as exc:
        raise Problem(404, "Not found", f"no review {review_id}") from exc
    except (review.ReviewClosed, MergeRefused) as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
    return VerdictPublic(review_id=verdict.review_id, status=verdict.status, canonical_id=verdict.canonical_id,
                         released=verdict.released, merge_id=verdict.merge.merge_id if verdict.merge else None)


@router.post("/{review_id}/link", response_model=VerdictPublic)
async def link(review_id: str, body: VerdictBody, ctx: Ctx,
               principal: Annotated[Principal, Depends(authorize(Scope.REVIEW_DECIDE))]) -> VerdictPublic:
    """Same customer: the held record joins it, or the two golden records are merged (reversible)."""
    return await _decide(ctx, principal, review_id, body, link=True)


@router.post("/{review_id}/split", response_model=VerdictPublic)
async def split(review_id: str, body: VerdictBody, ctx: Ctx,
                principal: Annotated[Principal, Depends(authorize(Scope.REVIEW_DECIDE))]) -> VerdictPublic:
    """Different customers: the held record becomes its own customer; two golden records stay apart."""
    return await _decide(ctx, principal, review_id, body, link=False)
