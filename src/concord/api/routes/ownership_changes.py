"""Ownership rule changes over HTTP: propose with a dry-run, read, approve (not by the proposer), reject, roll
back. A change of the whole policy is hub-wide and needs an all-tenant key; a change of one tenant's override
section (`tenant` + `overrides`) may be made by that tenant's key (decision 073), which sees and acts on its own
tenant's proposals only — any other is "not found". Approving takes `mappings:approve`, the scope #8 gives to
whoever may change how data flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, ValidationError

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.api.proposal_runs import run_change
from concord.api.routes.mapping_changes import ProposalDecision
from concord.security import ownership_changes as changes
from concord.security.scopes import ALL_TENANTS, Principal, Scope
from concord.yamlconf import error_location

router = APIRouter(prefix="/api/v1/ownership", tags=["ownership"])
Ctx = Annotated[AppContext, Depends(context)]
T = TypeVar("T")
Reader = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_READ))]
Proposer = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_APPROVE))]
TENANT = r"^([a-z0-9][a-z0-9_-]{0,63}|\*)$"


class OwnershipProposalCreate(BaseModel):
    policy: dict[str, Any] | None = Field(
        default=None, description="hub-wide: the complete new ownership policy (as in ownership.yaml); "
                                  "needs an all-tenant key")
    tenant: str | None = Field(default=None, pattern=TENANT,
                               description="with `overrides`: whose override section changes (default: the key's)")
    overrides: dict[str, Any] | None = Field(
        default=None, description="one tenant's override section (what sits under tenants.<tenant> in "
                                  "ownership.yaml): entity → field pattern → rule; {} drops the tenant's overrides")
    replay: int = Field(default=500, ge=1, le=10_000, description="how many recent changes the dry-run replays")


class OwnershipProposalPublic(BaseModel):
    id: str
    tenant: str = Field(description="'*' for a hub-wide proposal, else the tenant whose overrides it changes")
    base_version: int
    policy: dict[str, Any] | None
    overrides: dict[str, Any] | None
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
    return run_change(ctx, "Ownership change refused", action)


def _public(ctx: AppContext, proposal_id: str, principal: Principal) -> OwnershipProposalPublic:
    return OwnershipProposalPublic.model_validate(_run(ctx, lambda c: changes.get(c, proposal_id, principal.tenant)))


def _invalid(exc: ValidationError, prefix: str) -> Problem:
    loc, _, message = error_location(exc.errors()[0])
    field = ".".join([prefix, *(str(p) for p in loc)])
    return Problem(422, "Invalid request", f"{field}: {message}", field=field)


@router.get("/proposals", response_model=list[OwnershipProposalPublic])
def list_proposals(ctx: Ctx, principal: Reader, status: Annotated[str | None, Query(max_length=16)] = None,
                   tenant: Annotated[str | None, Query(max_length=64, description="one tenant's proposals; '*': "
                                                                          "the hub-wide ones")] = None
                   ) -> list[OwnershipProposalPublic]:
    only = tenant_filter(principal, tenant)
    found = _run(ctx, lambda c: changes.list_proposals(c, status, tenant=only))
    return [OwnershipProposalPublic.model_validate(p) for p in found]


def _target(body: OwnershipProposalCreate, principal: Principal) -> str:
    """The tenant a proposal belongs to ('*': hub-wide), refused (403) when the key may not change it."""
    if body.policy is not None and (body.overrides is not None or body.tenant not in (None, ALL_TENANTS)):
        raise Problem(422, "Invalid request", "policy: give either a whole policy or a tenant's overrides",
                      field="policy")
    target = ALL_TENANTS if body.policy is not None else (body.tenant or principal.tenant)
    if target == ALL_TENANTS and body.policy is None:
        raise Problem(422, "Invalid request", "policy: a whole policy, or a tenant with its overrides, is required",
                      field="policy" if body.tenant is None else "overrides")
    if not principal.sees(target):
        detail = ("a hub-wide ownership change needs an all-tenant key; propose your tenant's overrides instead"
                  if target == ALL_TENANTS else "this API key is not allowed to change that tenant's rules")
        raise Problem(403, "Forbidden", detail, field="policy" if target == ALL_TENANTS else "tenant")
    if target != ALL_TENANTS and body.overrides is None:
        raise Problem(422, "Invalid request", "overrides: the tenant's override section is required",
                      field="overrides")
    return target


@router.post("/proposals", status_code=201, response_model=OwnershipProposalPublic)
def propose(body: OwnershipProposalCreate, ctx: Ctx, principal: Proposer) -> OwnershipProposalPublic:
    target = _target(body, principal)
    actor, replay = principal.actor, body.replay
    try:
        if body.policy is not None:
            policy = changes.validate_policy(body.policy, ctx.runtime)
            proposal_id = _run(ctx, lambda c: changes.propose(c, ctx.runtime, policy, actor, replay))
        else:
            overrides = changes.validate_overrides(body.overrides, ctx.runtime)
            proposal_id = _run(ctx, lambda c: changes.propose_overrides(c, ctx.runtime, target, overrides, actor,
                                                                         replay))
    except ValidationError as exc:
        raise _invalid(exc, "policy" if body.policy is not None else "overrides") from exc
    return _public(ctx, proposal_id, principal)


@router.get("/proposals/{proposal_id}", response_model=OwnershipProposalPublic)
def read_proposal(proposal_id: str, ctx: Ctx, principal: Reader) -> OwnershipProposalPublic:
    return _public(ctx, proposal_id, principal)


@router.post("/proposals/{proposal_id}/approve", response_model=OwnershipProposalPublic)
def approve(proposal_id: str, ctx: Ctx, principal: Approver) -> OwnershipProposalPublic:
    _run(ctx, lambda c: changes.approve(c, ctx.runtime, proposal_id, principal.actor, visible_to=principal.tenant))
    return _public(ctx, proposal_id, principal)


@router.post("/proposals/{proposal_id}/reject", response_model=OwnershipProposalPublic)
def reject(proposal_id: str, body: ProposalDecision, ctx: Ctx, principal: Approver) -> OwnershipProposalPublic:
    _run(ctx, lambda c: changes.reject(c, proposal_id, principal.actor, body.reason, visible_to=principal.tenant))
    return _public(ctx, proposal_id, principal)


@router.post("/rollback", response_model=OwnershipVersionPublic)
def rollback(ctx: Ctx, principal: Approver,
             tenant: Annotated[str | None, Query(max_length=64, description="roll back only this tenant's "
                                                 "overrides (default: the key's tenant; hub-wide for '*')")] = None
             ) -> OwnershipVersionPublic:
    target = tenant or principal.tenant
    require_tenant(principal, target)
    return OwnershipVersionPublic(version=_run(ctx, lambda c: changes.rollback(c, ctx.runtime, principal.actor,
                                                                               target)))
