"""Exception tasks (`/api/v1/tasks`): what stopped a workflow, and the decision that lets it go on."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.security.scopes import Principal, Scope
from concord.tasks import store
from concord.tasks.models import TaskAction, TaskPublic, TaskStatus

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
Ctx = Annotated[AppContext, Depends(context)]
log = logging.getLogger(__name__)


class Resolution(BaseModel):
    actor: str = Field(min_length=1, max_length=128)
    corrections: dict[str, Any] = Field(default_factory=dict, description="field → corrected value")


class Decision(BaseModel):
    actor: str = Field(min_length=1, max_length=128)


Reader = Annotated[Principal, Depends(authorize(Scope.TASKS_READ))]
Resolver = Annotated[Principal, Depends(authorize(Scope.TASKS_RESOLVE))]


@router.get("", response_model=list[TaskPublic])
def list_tasks(principal: Reader, ctx: Ctx, status: TaskStatus | None = TaskStatus.OPEN, tenant: str | None = None,
               customer_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[TaskPublic]:
    """Tasks of the caller's tenant (or the named one, for an all-tenant key), oldest first."""
    with ctx.engine.connect() as conn:
        return store.list_tasks(conn, tenant=tenant_filter(principal, tenant), status=status,
                                customer_id=customer_id, limit=limit)


def _task_of(ctx: AppContext, principal: Principal, task_id: str) -> TaskPublic:
    with ctx.engine.connect() as conn:
        task = store.get_task(conn, task_id)
    if task is None:
        raise Problem(404, "Not found", f"no task {task_id}")
    require_tenant(principal, task.tenant)
    return task


@router.get("/{task_id}", response_model=TaskPublic)
def show_task(principal: Reader, task_id: str, ctx: Ctx) -> TaskPublic:
    return _task_of(ctx, principal, task_id)


async def _decide(principal: Principal, request: Request, ctx: AppContext, task_id: str, action: TaskAction,
                  actor: str, corrections: dict[str, Any] | None = None) -> TaskPublic:
    await asyncio.to_thread(_task_of, ctx, principal, task_id)
    try:
        task = await asyncio.to_thread(store.decide, ctx.engine, task_id, action, actor, corrections)
    except store.TaskNotFound as exc:
        raise Problem(404, "Not found", f"no task {task_id}") from exc
    except store.TaskClosed as exc:
        raise Problem(409, "Already decided", str(exc)) from exc
    except store.NotCorrectable as exc:
        raise Problem(422, "Invalid correction", str(exc), field=f"corrections.{exc.field}") from exc
    engine = getattr(request.app.state, "workflows", None)
    if engine is not None:
        try:
            await asyncio.to_thread(engine.wake, task.workflow_id, task.id)
        except Exception:  # the run re-reads its task row on its own; a lost wake-up only delays it
            log.warning("could not wake run %s", task.workflow_id, exc_info=True)
    return task


@router.post("/{task_id}/resolve", response_model=TaskPublic)
async def resolve_task(principal: Resolver, task_id: str, body: Resolution, request: Request,
                       ctx: Ctx) -> TaskPublic:
    """Continue the run with the corrected values (only the task's `correctable` fields)."""
    return await _decide(principal, request, ctx, task_id, TaskAction.RESOLVE, body.actor, body.corrections)


@router.post("/{task_id}/retry", response_model=TaskPublic)
async def retry_task(principal: Resolver, task_id: str, body: Decision, request: Request, ctx: Ctx) -> TaskPublic:
    """Run the refused step again unchanged (the cause was fixed in the other system)."""
    return await _decide(principal, request, ctx, task_id, TaskAction.RETRY, body.actor)


@router.post("/{task_id}/cancel", response_model=TaskPublic)
async def cancel_task(principal: Resolver, task_id: str, body: Decision, request: Request, ctx: Ctx) -> TaskPublic:
    """Stop the run: it ends as `cancelled`; what it created so far stays."""
    return await _decide(principal, request, ctx, task_id, TaskAction.CANCEL, body.actor)
