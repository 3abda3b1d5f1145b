"""Mapping change approval over HTTP: propose with a dry-run, read, approve (not by the proposer), reject,
roll back. Mappings are hub-wide, so these routes need an all-tenant key besides the scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.security import proposals
from concord.security.proposal_store import ProposalError
from concord.security.scopes import ALL_TENANTS, Principal, Scope

router = APIRouter(prefix="/api/v1/mappings", tags=["mappings"])
Ctx = Annotated[AppContext, Depends(context)]
T = TypeVar("T")


def hub_wide(scope: Scope) -> Callable[..., Principal]:
    # A default, not Annotated: the annotation would be resolved in module scope, where `scope` is unknown.
    def dependency(principal: Principal = Depends(authorize(scope))) -> Principal:
        require_tenant(principal, ALL_TENANTS)
        return principal

    dependency.__concord_scope__ = scope  # type: ignore[attr-defined]
    return dependency


Reader = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_READ))]
Proposer = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_APPROVE))]


class ProposalCreate(BaseModel):
    spec: dict[str, Any] = Field(description="the complete new mapping spec (as in mappings/*.yaml)")
    replay: int = Field(default=500, ge=1, le=10_000, description="how many recent changes the dry-run replays")


class ProposalDecision(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class ProposalPublic(BaseModel):
    id: str
    system: str
    entity: str
    base_version: int
    spec: dict[str, Any]
    status: str
    proposed_by: str
    proposed_at: float
    dry_run: dict[str, Any] | None
    approved_by: str | None
    approved_at: float | None
    activated_version: int | None
    reason: str | None


class VersionPublic(BaseModel):
    system: str
    entity: str
    version: int


def _run(ctx: AppContext, action: Callable[[Any], T]) -> T:
    try:
        with ctx.engine.begin() as conn:
            return action(conn)
    except ProposalError as exc:
        raise Problem(exc.status, "Mapping change refused", str(exc)) from exc


@router.get("/proposals", response_model=list[ProposalPublic])
def list_proposals(ctx: Ctx, _: Reader, status: Annotated[str | None, Query(max_length=16)] = None
                   ) -> list[ProposalPublic]:
    return [ProposalPublic.model_validate(p) for p in _run(ctx, lambda c: proposals.list_proposals(c, status))]


@router.post("/proposals", status_code=201, response_model=ProposalPublic)
def propose(body: ProposalCreate, ctx: Ctx, principal: Proposer) -> ProposalPublic:
    try:
        spec = proposals.validate_spec(body.spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(["spec", *(str(p) for p in error["loc"])])
        raise Problem(422, "Invalid request", f"{field}: {error['msg']}", field=field) from exc
    proposal_id = _run(ctx, lambda c: proposals.propose(c, ctx.runtime, spec, principal.actor, body.replay))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.get("/proposals/{proposal_id}", response_model=ProposalPublic)
def read_proposal(proposal_id: str, ctx: Ctx, _: Reader) -> ProposalPublic:
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.post("/proposals/{proposal_id}/approve", response_model=ProposalPublic)
def approve(proposal_id: str, ctx: Ctx, principal: Approver) -> ProposalPublic:
    _run(ctx, lambda c: proposals.approve(c, ctx.runtime, proposal_id, principal.actor))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.post("/proposals/{proposal_id}/reject", response_model=ProposalPublic)
def reject(proposal_id: str, body: ProposalDecision, ctx: Ctx, principal: Approver) -> ProposalPublic:
    _run(ctx, lambda c: proposals.reject(c, proposal_id, principal.actor, body.reason))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.post("/{system}/{entity}/rollback", response_model=VersionPublic)
def rollback(system: str, entity: str, ctx: Ctx, principal: Approver) -> VersionPublic:
    version = _run(ctx, lambda c: proposals.rollback(c, ctx.runtime, system, entity, principal.actor))
    return VersionPublic(system=system, entity=entity, version=version)
