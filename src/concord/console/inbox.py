"""Exception inbox: open tasks (issue #5) and failed outbound syncs, resolved from the browser — with
corrected data, a retry, or a cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.guards import INT64_MAX
from concord.console import actions
from concord.console.app import render
from concord.console.forms import back, checked_form, record_action
from concord.console.sources import TaskActions, TaskActionUnavailable, open_tasks, task_tenant
from concord.console.task_actions import StoreTaskActions
from concord.ingest.models import ChangeError
from concord.security.scopes import Principal, Scope
from concord.storage import tables as t

router = APIRouter(prefix="/console/inbox", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
RowId = Annotated[int, Path(ge=1, le=INT64_MAX)]  # a row id beyond BIGINT cannot exist: 422, not an overflow
Reader = Annotated[Principal, Depends(authorize(Scope.TASKS_READ))]
Resolver = Annotated[Principal, Depends(authorize(Scope.TASKS_RESOLVE))]
PAGE = "/console/inbox"


def task_actions(request: Request) -> TaskActions:
    """Decisions go to the task store of the workflow engine (#5), waking the run when this app holds the engine;
    an app may install other actions as `app.state.task_actions`."""
    found: TaskActions | None = getattr(request.app.state, "task_actions", None)
    if found is not None:
        return found
    return StoreTaskActions(request.app.state.concord.engine, getattr(request.app.state, "workflows", None))


def _failed_commands(ctx: AppContext, tenant: str | None) -> list[dict[str, Any]]:
    o = t.outbox.c
    query = (select(o.seq, o.tenant, o.type, o.target, o.entity, o.canonical_id, o.correlation_id, o.failed_at,
                    o.last_error, o.attempts, o.payload)
             .where(o.published_at.is_(None), o.kind == "command", o.failed_at.is_not(None))
             .order_by(o.seq.desc()).limit(100))
    if tenant is not None:
        query = query.where(o.tenant == tenant)
    with ctx.engine.connect() as conn:
        return [{**r._mapping, "fields": orjson.loads(r.payload).get("fields", {})} for r in conn.execute(query)]


def _load(ctx: AppContext, tenant: str | None) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        tasks = open_tasks(conn, tenant)
    return {"tasks": tasks, "commands": _failed_commands(ctx, tenant)}


def _command_of_tenant(ctx: AppContext, principal: Principal, seq: int) -> None:
    """403 for another tenant's command (a missing one is left to the action to report)."""
    with ctx.engine.connect() as conn:
        tenant = conn.execute(select(t.outbox.c.tenant).where(t.outbox.c.seq == seq)).scalar()
    if tenant is not None:
        require_tenant(principal, tenant)


@router.get("", response_class=HTMLResponse)
async def inbox(ctx: Ctx, request: Request, principal: Reader,
                tenant: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    scope = tenant_filter(principal, tenant or None)
    return render(request, "inbox.html", **await asyncio.to_thread(_load, ctx, scope))


@router.post("/commands/{seq}/retry")
async def retry_command(ctx: Ctx, request: Request, seq: RowId, principal: Resolver) -> RedirectResponse:
    await checked_form(request)
    _command_of_tenant(ctx, principal, seq)
    try:
        await asyncio.to_thread(actions.requeue_command, ctx.engine, seq)
    except actions.NotRetryable as exc:
        return back(PAGE, str(exc), "error")
    record_action(ctx.engine, principal, "sync.requeued", "outbox_command", str(seq))
    return back(PAGE, f"command {seq} queued for delivery again")


def _corrected(raw: str) -> dict[str, Any] | str:
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError as exc:
        return f"corrected data is not JSON: {exc}"
    return value if isinstance(value, dict) and value else "corrected data must be a JSON object of fields"


@router.post("/commands/{seq}/resolve")
async def resolve_command(ctx: Ctx, request: Request, seq: RowId, principal: Resolver) -> RedirectResponse:
    """Apply the steward's corrected fields to the golden record, then retry the command with them."""
    form = await checked_form(request)
    _command_of_tenant(ctx, principal, seq)
    fields = _corrected(form.get("corrected", ""))
    if isinstance(fields, str):
        return back(PAGE, fields, "error")
    canonical_id, correlation = form.get("canonical_id", ""), form.get("correlation_id") or None
    outcome = await asyncio.to_thread(actions.steward_correction, ctx.ingest, canonical_id, fields,
                                      principal.actor, correlation, principal.tenant)
    if isinstance(outcome, ChangeError):
        return back(PAGE, f"correction refused: {outcome.detail}", "error")
    record_action(ctx.engine, principal, "sync.corrected", "outbox_command", str(seq), customer=canonical_id,
                  after={"fields": sorted(fields), "change_id": outcome.change_id})
    try:
        await asyncio.to_thread(actions.requeue_command, ctx.engine, seq)
    except actions.NotRetryable as exc:
        return back(PAGE, f"corrected ({outcome.status}); {exc}", "error")
    return back(PAGE, f"corrected {', '.join(outcome.applied) or 'nothing'}; command {seq} queued again")


@router.post("/tasks/{task_id}/{action}")
async def act_on_task(request: Request, task_id: str, action: str, principal: Resolver) -> RedirectResponse:
    form = await checked_form(request)
    engine = request.app.state.concord.engine
    with engine.connect() as conn:
        tenant = task_tenant(conn, task_id)
    if tenant is not None:
        require_tenant(principal, tenant)
    handler, actor = task_actions(request), principal.actor
    try:
        if action == "resolve":
            fields = _corrected(form.get("corrected", "")) if form.get("corrected") else {}
            if isinstance(fields, str):
                return back(PAGE, fields, "error")
            await asyncio.to_thread(handler.resolve, task_id, actor, fields)
        elif action == "retry":
            await asyncio.to_thread(handler.retry, task_id, actor)
        elif action == "cancel":
            await asyncio.to_thread(handler.cancel, task_id, actor, form.get("reason") or "cancelled in console")
        else:
            return back(PAGE, f"unknown action {action!r}", "error")
    except TaskActionUnavailable as exc:
        return back(PAGE, str(exc), "error")
    record_action(engine, principal, f"task.{action}", "task", task_id, tenant=tenant)
    return back(PAGE, f"task {task_id}: {action} done")
