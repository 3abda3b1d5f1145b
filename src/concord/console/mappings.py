"""Mappings and ownership: the versions running, changes on disk not yet running (with the diff), and the
non-owner writes awaiting a steward's approval (with current → proposed), decided from the browser."""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from concord.api.deps import AppContext, authorize, context
from concord.console.app import render
from concord.console.forms import actor_of, back, checked_form
from concord.hubconfig import Runtime, load_runtime
from concord.ingest import stewardship
from concord.ingest.models import ChangeError
from concord.mappings.spec import MappingSpec
from concord.security.scopes import Scope
from concord.storage import queries
from concord.yamlconf import ConfigError

router = APIRouter(prefix="/console/mappings", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Read = Depends(authorize(Scope.MAPPINGS_READ))
Decide = Depends(authorize(Scope.APPROVALS_DECIDE))
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


def pending_mappings(running: Runtime) -> tuple[list[PendingMapping], str | None]:
    """Specs whose file on disk differs from the loaded one: they go live on the next restart."""
    try:
        disk = load_runtime(running.config_dir)
    except ConfigError as exc:
        return [], "configuration on disk does not load: " + "; ".join(exc.problems[:3])
    pending = []
    for key in sorted(set(running.mappings.mappers) | set(disk.mappings.mappers)):
        now, new = running.mappings.mappers.get(key), disk.mappings.mappers.get(key)
        old_spec, new_spec = (now.spec if now else None), (new.spec if new else None)
        if old_spec != new_spec:
            diff = list(difflib.unified_diff(_dump(old_spec), _dump(new_spec), "running", "on disk", lineterm=""))
            pending.append(PendingMapping(f"{key[0]}/{key[1]}", old_spec.version if old_spec else None,
                                          new_spec.version if new_spec else None, diff))
    return pending, None


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


def _load(ctx: AppContext) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        approvals = [{**a, "value": orjson.loads(a["value"]), "current": orjson.loads(a["current"])}
                     for a in queries.approvals(conn, None, "pending", limit=200)]
    specs = sorted((m.spec for m in ctx.runtime.mappings.mappers.values()), key=lambda s: s.label)
    pending, problem = pending_mappings(ctx.runtime)
    return {"specs": specs, "pending": pending, "problem": problem, "approvals": approvals,
            "ownership_version": ctx.runtime.ownership.version, "rules": _ownership(ctx.runtime)}


@router.get("", response_class=HTMLResponse, dependencies=[Read])
async def mappings(ctx: Ctx, request: Request) -> HTMLResponse:
    return render(request, "mappings.html", **await asyncio.to_thread(_load, ctx))


@router.post("/approvals/{approval_id}/{decision}", dependencies=[Decide])
async def decide(ctx: Ctx, request: Request, approval_id: str, decision: str) -> RedirectResponse:
    form = await checked_form(request)
    actor, reason = actor_of(request), form.get("reason") or None
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
    return back(PAGE, f"approval {approval_id} {decision}d")
