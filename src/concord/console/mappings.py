"""Mappings and ownership: the versions running; mapping change proposals awaiting a second person's approval
(#8's four-eyes workflow, with the diff against the running spec and the dry-run); spec files changed on disk
but not running; and non-owner field writes awaiting a steward (current → proposed) — decided from the browser."""

from __future__ import annotations

import asyncio
import difflib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.routes.mapping_changes import hub_wide
from concord.console import ownership
from concord.console.app import render
from concord.console.forms import back, checked_form, record_action
from concord.hubconfig import Runtime, load_runtime
from concord.ingest import stewardship
from concord.ingest.models import ChangeError
from concord.mappings.spec import MappingSpec
from concord.security import mapping_sync, proposals
from concord.security.proposal_store import ProposalError
from concord.security.scopes import Principal, Scope
from concord.storage import queries
from concord.yamlconf import ConfigError

router = APIRouter(prefix="/console/mappings", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.MAPPINGS_READ))]
Decider = Annotated[Principal, Depends(authorize(Scope.APPROVALS_DECIDE))]
Approver = Annotated[Principal, Depends(hub_wide(Scope.MAPPINGS_APPROVE))]
PAGE = "/console/mappings"


@dataclass
class PendingMapping:
    label: str
    running: int | None
    on_disk: int | None
    diff: list[str]


def _dump(spec: MappingSpec | None) -> list[str]:
    if spec is None:
        return []
    text = yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
    return text.splitlines()


def config_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """What the configuration files on disk look like now (name, size, mtime): a change of any invalidates."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


_cache: dict[tuple[int, tuple[tuple[str, int, int], ...]], tuple[list[PendingMapping], str | None]] = {}
_cache_lock = threading.Lock()


def pending_mappings(running: Runtime) -> tuple[list[PendingMapping], str | None]:
    """Specs whose file on disk differs from the loaded one: they go live on the next restart. Loading and
    diffing the files is cached until a file changes (a stat per file per request)."""
    key = (id(running), config_signature(running.config_dir))
    with _cache_lock:
        found = _cache.get(key)
    if found is None:
        found = _compare(running)
        with _cache_lock:
            _cache.clear()  # one entry: the latest state of the files for the running configuration
            _cache[key] = found
    return found


def _compare(running: Runtime) -> tuple[list[PendingMapping], str | None]:
    try:
        disk = load_runtime(running.config_dir)
    except ConfigError as exc:
        return [], "configuration on disk does not load: " + "; ".join(exc.problems[:3])
    pending = []
    running_specs, disk_specs = _by_key(running), _by_key(disk)
    for key in sorted(set(running_specs) | set(disk_specs)):
        old_spec, new_spec = running_specs.get(key), disk_specs.get(key)
        if old_spec != new_spec:
            diff = list(difflib.unified_diff(_dump(old_spec), _dump(new_spec), "running", "on disk", lineterm=""))
            label = f"{key[1]}/{key[2]}" + ("" if key[0] == "*" else f" (tenant {key[0]})")
            pending.append(PendingMapping(label, old_spec.version if old_spec else None,
                                          new_spec.version if new_spec else None, diff))
    return pending, None


def _by_key(runtime: Runtime) -> dict[tuple[str, str, str], MappingSpec]:
    """Every spec in force keyed by (tenant or '*', system, entity): tenant overrides are files too."""
    return {(spec.tenant or "*", spec.system, spec.entity): spec for spec in runtime.mappings.specs()}


def _ownership(runtime: Runtime) -> list[dict[str, Any]]:
    rows = []
    for entity, rules in sorted(runtime.ownership.entities.items()):
        for pattern, rule in sorted(rules.items()):
            rows.append({"scope": "all tenants", "entity": entity, "field": pattern, "owner": rule.owner,
                         "mode": str(rule.mode)})
    for tenant, entities in sorted(runtime.ownership.tenants.items()):
        for entity, rules in sorted(entities.items()):
            for pattern, rule in sorted(rules.items()):
                rows.append({"scope": tenant, "entity": entity, "field": pattern, "owner": rule.owner,
                             "mode": str(rule.mode)})
    return rows


def proposal_diffs(conn: Connection, running: Runtime, tenant: str | None = None) -> list[dict[str, Any]]:
    """Open mapping proposals (of `tenant` when given) with the unified diff of the spec that tenant runs now
    (its override, else the hub-wide one) → the proposed one."""
    out = []
    for p in proposals.list_proposals(conn, "proposed", limit=50, tenant=tenant):
        spec = MappingSpec.model_validate(p["spec"])
        current = running.mappings.get(spec.system, spec.entity, spec.tenant)
        diff = list(difflib.unified_diff(_dump(current.spec if current else None), _dump(spec),
                                         f"running {current.spec.label if current else '—'}",
                                         f"proposed v{spec.version}", lineterm=""))
        scope = "all tenants" if p["tenant"] == "*" else f"tenant {p['tenant']}"
        out.append({**p, "diff": diff, "label": f"{spec.system}/{spec.entity}", "scope": scope})
    return out


def _load(ctx: AppContext, tenant: str | None) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        mapping_sync.sync(conn, ctx.runtime)  # show what runs now, also when another process activated it
        approvals = [{**a, "value": orjson.loads(a["value"]), "current": orjson.loads(a["current"])}
                     for a in queries.approvals(conn, tenant, "pending", limit=200)]
        proposed = proposal_diffs(conn, ctx.runtime, tenant)
        ownership_proposed = ownership.open_proposals(conn, ctx.runtime, tenant)
    specs = ctx.runtime.mappings.specs()
    pending, problem = pending_mappings(ctx.runtime)
    return {"specs": specs, "pending": pending, "problem": problem, "approvals": approvals, "proposals": proposed,
            "ownership_version": ctx.runtime.ownership.version, "rules": _ownership(ctx.runtime),
            "ownership_proposals": ownership_proposed}


@router.get("", response_class=HTMLResponse)
async def mappings(ctx: Ctx, request: Request, principal: Reader,
                   tenant: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    values = await asyncio.to_thread(_load, ctx, tenant_filter(principal, tenant or None))
    return render(request, "mappings.html", **values)


@router.post("/proposals/{proposal_id}/{decision}")
async def decide_proposal(ctx: Ctx, request: Request, proposal_id: str, decision: str,
                          principal: Approver) -> RedirectResponse:
    """Approve (activates the version, not by its proposer) or reject a mapping change."""
    form = await checked_form(request)

    def run() -> str:
        with ctx.engine.begin() as conn:
            if decision == "approve":
                version = proposals.approve(conn, ctx.runtime, proposal_id, principal.actor)
                whose = proposals.get(conn, proposal_id)["tenant"]
                scope = "all tenants" if whose == "*" else f"tenant {whose}"
                return f"mapping change approved: version {version} active for {scope}"
            proposals.reject(conn, proposal_id, principal.actor, form.get("reason") or None)
            return "mapping change rejected"

    if decision not in ("approve", "reject"):
        return back(PAGE, f"unknown decision {decision!r}", "error")
    try:
        return back(PAGE, await asyncio.to_thread(run))
    except ProposalError as exc:
        return back(PAGE, f"proposal {proposal_id}: {exc}", "error")


@router.post("/approvals/{approval_id}/{decision}")
async def decide(ctx: Ctx, request: Request, approval_id: str, decision: str, principal: Decider
                 ) -> RedirectResponse:
    form = await checked_form(request)
    with ctx.engine.connect() as conn:
        found = queries.approval(conn, approval_id)
    if found is not None:
        require_tenant(principal, str(found["tenant"]))
    actor, reason = principal.actor, form.get("reason") or None
    try:
        if decision == "approve":
            outcome = await asyncio.to_thread(stewardship.approve, ctx.ingest, approval_id, actor, reason)
            if isinstance(outcome, ChangeError):
                return back(PAGE, f"approval {approval_id}: {outcome.detail}", "error")
        elif decision == "reject":
            await asyncio.to_thread(stewardship.reject, ctx.engine, approval_id, actor, reason)
        else:
            return back(PAGE, f"unknown decision {decision!r}", "error")
    except (stewardship.ApprovalNotFound, stewardship.ApprovalClosed) as exc:
        return back(PAGE, f"approval {approval_id}: {exc}", "error")
    assert found is not None  # a decision on a missing approval raised ApprovalNotFound above
    record_action(ctx.engine, principal, f"approval.{decision}d", "approval", approval_id,
                  tenant=str(found["tenant"]), customer=str(found["canonical_id"]), system=str(found["system"]),
                  after={"field": found["field"], "reason": reason})
    return back(PAGE, f"approval {approval_id} {decision}d")
