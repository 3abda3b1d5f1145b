"""Ownership rule changes from the console: propose a new policy (YAML pasted into the mappings page) or one
tenant's override section (with the form's tenant field, decision 073), see the open proposals with the diff
against the rules in force and the dry-run's per-system shift, approve (not by the proposer) or reject. The page
itself is /console/mappings; these are its forms. The console shows every tenant, so like every console page
these need an all-tenant key (decision 055); a tenant's own key proposes through the API or the CLI."""

from __future__ import annotations

import asyncio
import difflib
import re
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import Connection

from concord.api.deps import AppContext, context
from concord.api.routes.mapping_changes import hub_wide
from concord.console.forms import back, checked_form
from concord.hubconfig import Runtime
from concord.ownership.policy import EntityRules, OwnershipPolicy, overrides_of
from concord.security import ownership_changes as changes
from concord.security.proposal_store import ProposalError
from concord.security.scopes import Principal, Scope
from concord.yamlconf import error_location

router = APIRouter(prefix="/console/ownership", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Proposer = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_APPROVE))]
PAGE = "/console/mappings"
MAX_POLICY_CHARS = 200_000
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _dump(policy: OwnershipPolicy | dict[str, Any]) -> list[str]:
    raw = policy.model_dump(mode="json") if isinstance(policy, OwnershipPolicy) else policy
    body = {k: v for k, v in raw.items() if k != "version"}  # the version is assigned at activation
    return yaml.safe_dump(body, sort_keys=True).splitlines()


def _section(running: Runtime, tenant: str) -> list[str]:
    current = {e: {p: r.model_dump(mode="json") for p, r in rules.items()}
               for e, rules in overrides_of(running.ownership, tenant).items()}
    return yaml.safe_dump(current, sort_keys=True).splitlines() if current else []


def _diff(running: Runtime, proposal: dict[str, Any]) -> list[str]:
    """The rules in force → the proposed ones; for a tenant's proposal, that tenant's override section only."""
    label = f"in force v{running.ownership.version}"
    if proposal["policy"] is not None:
        return list(difflib.unified_diff(_dump(running.ownership), _dump(proposal["policy"]), label, "proposed",
                                         lineterm=""))
    proposed = yaml.safe_dump(proposal["overrides"], sort_keys=True).splitlines() if proposal["overrides"] else []
    tenant = proposal["tenant"]
    return list(difflib.unified_diff(_section(running, tenant), proposed, f"{label}: tenants.{tenant}",
                                     f"proposed: tenants.{tenant}", lineterm=""))


def open_proposals(conn: Connection, running: Runtime, tenant: str | None = None) -> list[dict[str, Any]]:
    """Open ownership proposals (of one tenant, when the page is filtered) with the unified diff of the rules in
    force → the proposed ones."""
    changes.sync(conn, running)
    found = changes.list_proposals(conn, "proposed", limit=50, tenant=tenant)
    return [{**p, "diff": _diff(running, p)} for p in found]


def _parse(text: str, runtime: Runtime, tenant: str | None) -> OwnershipPolicy | EntityRules | str:
    """The pasted policy (or, for a tenant, its override section), or a message naming what is wrong."""
    field = "policy" if tenant is None else "overrides"
    if tenant is not None and not TENANT.match(tenant):
        return "tenant: lower-case letters, digits, '-' and '_' (at most 64)"
    if not text.strip() or len(text) > MAX_POLICY_CHARS:
        return f"{field}: paste the YAML (at most {MAX_POLICY_CHARS} characters)"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return f"{field}: not YAML ({exc.__class__.__name__})"
    if not isinstance(raw, dict):
        return f"{field}: expected a mapping" + (" with version and entities" if tenant is None else " of entities")
    try:
        return changes.validate_policy(raw, runtime) if tenant is None else changes.validate_overrides(raw, runtime)
    except ValidationError as exc:
        loc, _, message = error_location(exc.errors()[0])
        return f"{'.'.join([field, *(str(p) for p in loc)])}: {message}"


@router.post("/proposals")
async def propose(ctx: Ctx, request: Request, principal: Proposer) -> RedirectResponse:
    form = await checked_form(request)
    tenant = form.get("tenant", "").strip() or None
    parsed = _parse(form.get("policy", ""), ctx.runtime, tenant)
    if isinstance(parsed, str):
        return back(PAGE, parsed, "error")

    def run() -> str:
        with ctx.engine.begin() as conn:
            if isinstance(parsed, OwnershipPolicy):
                proposal_id = changes.propose(conn, ctx.runtime, parsed, principal.actor)
            else:
                assert tenant is not None
                proposal_id = changes.propose_overrides(conn, ctx.runtime, tenant, parsed, principal.actor)
            dry = changes.get(conn, proposal_id)["dry_run"]
        return (f"ownership change {proposal_id} proposed: {dry['differing']} of {dry['replayed']} recent changes "
                "would be judged differently; it waits for a second person")

    return back(PAGE, await asyncio.to_thread(run))


@router.post("/proposals/{proposal_id}/{decision}")
async def decide(ctx: Ctx, request: Request, proposal_id: str, decision: str, principal: Approver
                 ) -> RedirectResponse:
    """Approve (activates a new version, not by its proposer) or reject an ownership change."""
    form = await checked_form(request)

    def run() -> str:
        with ctx.engine.begin() as conn:
            if decision == "approve":
                version = changes.approve(conn, ctx.runtime, proposal_id, principal.actor)
                return f"ownership change approved: rules version {version} in force"
            changes.reject(conn, proposal_id, principal.actor, form.get("reason") or None)
            return "ownership change rejected"

    if decision not in ("approve", "reject"):
        return back(PAGE, f"unknown decision {decision!r}", "error")
    try:
        return back(PAGE, await asyncio.to_thread(run))
    except ProposalError as exc:
        return back(PAGE, f"ownership proposal {proposal_id}: {exc}", "error")
