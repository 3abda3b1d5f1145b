"""Ownership rule changes over HTTP: propose a new policy with a dry-run, read, approve (not by the proposer),
reject, roll back. The rules are hub-wide (tenant overrides included), so these routes need an all-tenant key;
approving takes `mappings:approve`, the scope #8 gives to whoever may change how data flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError

from concord.api.deps import AppContext, context
from concord.api.problems import Problem
from concord.api.routes.mapping_changes import ProposalDecision, hub_wide
from concord.security import ownership_changes as changes
from concord.security.proposal_store import ProposalError
from concord.security.scopes import Principal, Scope

router = APIRouter(prefix="/api/v1/ownership", tags=["ownership"])
Ctx = Annotated[AppContext, Depends(context)]
T = TypeVar("T")
Reader = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_READ))]
Proposer = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_APPROVE))]


class OwnershipProposalCreate(BaseModel):
    policy: dict[str, Any] = Field(description="the complete new ownership policy (as in ownership.yaml)")
    replay: int = Field(default=500, ge=1, le=10_000, description="how many recent changes the dry-run replays")


class OwnershipProposalPublic(BaseModel):
    id: str
    base_version: int
    policy: dict[str, Any]
    status: str
    proposed_by: str
    proposed_at: float
    dry_run: dict[str, Any] | None
    approved_by: str | None
    approved_at: float | None
    activated_version: int | None
    reason: str | None


class OwnershipVersionPublic(BaseModel):
    version: int


def _run(ctx: AppContext, action: Callable[[Any], T]) -> T:
    try:
        with ctx.engine.begin() as conn:
            return action(conn)
    except ProposalError as exc:
        raise Problem(exc.status, "Ownership change refused", str(exc)) from exc


def _public(ctx: AppContext, proposal_id: str) -> OwnershipProposalPublic:
    return OwnershipProposalPublic.model_validate(_run(ctx, lambda c: changes.get(c, proposal_id)))


@router.get("/proposals", response_model=list[OwnershipProposalPublic])
def list_proposals(ctx: Ctx, _: Reader, status: Annotated[str | None, Query(max_length=16)] = None
                   ) -> list[OwnershipProposalPublic]:
    found = _run(ctx, lambda c: changes.list_proposals(c, status))
    return [OwnershipProposalPublic.model_validate(p) for p in found]


@router.post("/proposals", status_code=201, response_model=OwnershipProposalPublic)
def propose(body: OwnershipProposalCreate, ctx: Ctx, principal: Proposer) -> OwnershipProposalPublic:
    try:
        policy = changes.validate_policy(body.policy, ctx.runtime)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(["policy", *(str(p) for p in error["loc"])])
        raise Problem(422, "Invalid request", f"{field}: {error['msg']}", field=field) from exc
    proposal_id = _run(ctx, lambda c: changes.propose(c, ctx.runtime, policy, principal.actor, body.replay))
    return _public(ctx, proposal_id)


@router.get("/proposals/{proposal_id}", response_model=OwnershipProposalPublic)
def read_proposal(proposal_id: str, ctx: Ctx, _: Reader) -> OwnershipProposalPublic:
    return _public(ctx, proposal_id)


@router.post("/proposals/{proposal_id}/approve", response_model=OwnershipProposalPublic)
def approve(proposal_id: str, ctx: Ctx, principal: Approver) -> OwnershipProposalPublic:
    _run(ctx, lambda c: changes.approve(c, ctx.runtime, proposal_id, principal.actor))
    return _public(ctx, proposal_id)


@router.post("/proposals/{proposal_id}/reject", response_model=OwnershipProposalPublic)
def reject(proposal_id: str, body: ProposalDecision, ctx: Ctx, principal: Approver) -> OwnershipProposalPublic:
    _run(ctx, lambda c: changes.reject(c, proposal_id, principal.actor, body.reason))
    return _public(ctx, proposal_id)


@router.post("/rollback", response_model=OwnershipVersionPublic)
def rollback(ctx: Ctx, principal: Approver) -> OwnershipVersionPublic:
    return OwnershipVersionPublic(version=_run(ctx, lambda c: changes.rollback(c, ctx.runtime, principal.actor)))
