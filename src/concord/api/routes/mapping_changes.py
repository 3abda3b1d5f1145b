"""Mapping change approval over HTTP: propose with a dry-run, read, approve (not by the proposer), reject,
roll back. A tenant's key acts on its tenant's override only (another tenant's proposals answer 404); the
hub-wide specs ("*") need an all-tenant key (decision 071)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.api.proposal_runs import run_change
from concord.security import proposals
from concord.security.scopes import ALL_TENANTS, Principal, Scope

router = APIRouter(prefix="/api/v1/mappings", tags=["mappings"])
Ctx = Annotated[AppContext, Depends(context)]
T = TypeVar("T")


def hub_wide(scope: Scope) -> Callable[..., Principal]:
    """The scope and an all-tenant key (the console's mapping page shows every tenant)."""
    # A default, not Annotated: the annotation would be resolved in module scope, where `scope` is unknown.
    def dependency(principal: Principal = Depends(authorize(scope))) -> Principal:
        require_tenant(principal, ALL_TENANTS)
        return principal

    dependency.__concord_scope__ = scope  # type: ignore[attr-defined]
    return dependency


Reader = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_READ))]
Proposer = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_APPROVE))]
TenantQuery = Annotated[str | None, Query(max_length=64, description=(
    "whose mapping: a tenant, or '*' for the hub-wide spec (default: the key's tenant)"))]


def _target(principal: Principal, tenant: str | None) -> str:
    """The tenant whose mapping a call changes: the one asked for (if the key may), else the key's own."""
    chosen = tenant or principal.tenant
    require_tenant(principal, chosen)
    return chosen


class ProposalCreate(BaseModel):
    spec: dict[str, Any] = Field(description="the complete new mapping spec (as in mappings/*.yaml)")
    tenant: str | None = Field(default=None, min_length=1, max_length=64, description=(
        "whose mapping changes: a tenant (its override) or '*' (the hub-wide spec); default: the key's tenant"))
    replay: int = Field(default=500, ge=1, le=10_000, description="how many recent changes the dry-run replays")


class ProposalDecision(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class ProposalPublic(BaseModel):
    id: str
    tenant: str
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
    tenant: str
    system: str
    entity: str
    version: int


def _run(ctx: AppContext, action: Callable[[Any], T]) -> T:
    return run_change(ctx, "Mapping change refused", action)


@router.get("/proposals", response_model=list[ProposalPublic])
def list_proposals(ctx: Ctx, principal: Reader, status: Annotated[str | None, Query(max_length=16)] = None,
                   tenant: TenantQuery = None) -> list[ProposalPublic]:
    """Newest first: a tenant's key sees its own tenant's proposals only."""
    only = tenant_filter(principal, tenant)
    return [ProposalPublic.model_validate(p)
            for p in _run(ctx, lambda c: proposals.list_proposals(c, status, tenant=only))]


@router.post("/proposals", status_code=201, response_model=ProposalPublic)
def propose(body: ProposalCreate, ctx: Ctx, principal: Proposer) -> ProposalPublic:
    tenant = _target(principal, body.tenant)
    try:
        spec = proposals.validate_spec(body.spec)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(["spec", *(str(p) for p in error["loc"])])
        raise Problem(422, "Invalid request", f"{field}: {error['msg']}", field=field) from exc
    proposal_id = _run(ctx, lambda c: proposals.propose(c, ctx.runtime, spec, principal.actor, body.replay, tenant))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.get("/proposals/{proposal_id}", response_model=ProposalPublic)
def read_proposal(proposal_id: str, ctx: Ctx, principal: Reader) -> ProposalPublic:
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id, principal.tenant)))


@router.post("/proposals/{proposal_id}/approve", response_model=ProposalPublic)
def approve(proposal_id: str, ctx: Ctx, principal: Approver) -> ProposalPublic:
    _run(ctx, lambda c: proposals.approve(c, ctx.runtime, proposal_id, principal.actor, viewer=principal.tenant))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.post("/proposals/{proposal_id}/reject", response_model=ProposalPublic)
def reject(proposal_id: str, body: ProposalDecision, ctx: Ctx, principal: Approver) -> ProposalPublic:
    _run(ctx, lambda c: proposals.reject(c, proposal_id, principal.actor, body.reason, principal.tenant))
    return ProposalPublic.model_validate(_run(ctx, lambda c: proposals.get(c, proposal_id)))


@router.post("/{system}/{entity}/rollback", response_model=VersionPublic)
def rollback(system: str, entity: str, ctx: Ctx, principal: Approver, tenant: TenantQuery = None) -> VersionPublic:
    """Return `tenant`'s mapping (default: the key's tenant; '*': the hub-wide spec) to its previous version."""
    chosen = _target(principal, tenant)
    version = _run(ctx, lambda c: proposals.rollback(c, ctx.runtime, system, entity, principal.actor, chosen))
    return VersionPublic(tenant=chosen, system=system, entity=entity, version=version)
