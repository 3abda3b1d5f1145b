"""Ownership rule changes from the console: propose a new policy (YAML pasted into the mappings page), see the
open proposals with the diff against the rules in force and the dry-run's per-system shift, approve (not by the
proposer) or reject. The page itself is /console/mappings; these are its forms."""

from __future__ import annotations

import asyncio
import difflib
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
from concord.ownership.policy import OwnershipPolicy
from concord.security import ownership_changes as changes
from concord.security.proposal_store import ProposalError
from concord.security.scopes import Principal, Scope

router = APIRouter(prefix="/console/ownership", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Proposer = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_PROPOSE))]
Approver = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_APPROVE))]
PAGE = "/console/mappings"
MAX_POLICY_CHARS = 200_000


def _dump(policy: OwnershipPolicy | dict[str, Any]) -> list[str]:
    raw = policy.model_dump(mode="json") if isinstance(policy, OwnershipPolicy) else policy
    body = {k: v for k, v in raw.items() if k != "version"}  # the version is assigned at activation
    return yaml.safe_dump(body, sort_keys=True).splitlines()


def open_proposals(conn: Connection, running: Runtime) -> list[dict[str, Any]]:
    """Open ownership proposals with the unified diff of the rules in force → the proposed ones."""
    changes.sync(conn, running)
    current, label = _dump(running.ownership), f"in force v{running.ownership.version}"
    return [{**p, "diff": list(difflib.unified_diff(current, _dump(p["policy"]), label, "proposed", lineterm=""))}
            for p in changes.list_proposals(conn, "proposed", limit=50)]


def _parse(text: str, runtime: Runtime) -> OwnershipPolicy | str:
    """The pasted policy, or a message naming what is wrong with it."""
    if not text.strip() or len(text) > MAX_POLICY_CHARS:
        return f"policy: paste a complete ownership.yaml (at most {MAX_POLICY_CHARS} characters)"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return f"policy: not YAML ({exc.__class__.__name__})"
    if not isinstance(raw, dict):
        return "policy: expected a mapping with version and entities"
    try:
        return changes.validate_policy(raw, runtime)
    except ValidationError as exc:
        error = exc.errors()[0]
        return f"policy.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


@router.post("/proposals")
async def propose(ctx: Ctx, request: Request, principal: Proposer) -> RedirectResponse:
    form = await checked_form(request)
    parsed = _parse(form.get("policy", ""), ctx.runtime)
    if isinstance(parsed, str):
        return back(PAGE, parsed, "error")
    policy = parsed

    def run() -> str:
        with ctx.engine.begin() as conn:
            proposal_id = changes.propose(conn, ctx.runtime, policy, principal.actor)
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
