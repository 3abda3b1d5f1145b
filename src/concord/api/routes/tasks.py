"""Exception tasks (`/api/v1/tasks`): what stopped a workflow, and the decision that lets it go on."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from concord.api.deps import AppContext, authorize, context
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


@router.get("", response_model=list[TaskPublic])
def list_tasks(ctx: Ctx, _: Annotated[Principal, Depends(authorize(Scope.TASKS_READ))],
               status: TaskStatus | None = TaskStatus.OPEN, tenant: str | None = None,
               customer_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[TaskPublic]:
    with ctx.engine.connect() as conn:
        return store.list_tasks(conn, tenant=tenant, status=status, customer_id=customer_id, limit=limit)


@router.get("/{task_id}", response_model=TaskPublic)
def show_task(task_id: str, ctx: Ctx, _: Annotated[Principal, Depends(authorize(Scope.TASKS_READ))]) -> TaskPublic:
    with ctx.engine.connect() as conn:
        task = store.get_task(conn, task_id)
    if task is None:
        raise Problem(404, "Not found", f"no task {task_id}")
    return task


async def _decide(request: Request, ctx: AppContext, task_id: str, action: TaskAction, actor: str,
                  corrections: dict[str, Any] | None = None) -> TaskPublic:
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
async def resolve_task(task_id: str, body: Resolution, request: Request, ctx: Ctx,
                       _: Annotated[Principal, Depends(authorize(Scope.TASKS_RESOLVE))]) -> TaskPublic:
    """Continue the run with the corrected values (only the task's `correctable` fields)."""
    return await _decide(request, ctx, task_id, TaskAction.RESOLVE, body.actor, body.corrections)


@router.post("/{task_id}/retry", response_model=TaskPublic)
async def retry_task(task_id: str, body: Decision, request: Request, ctx: Ctx,
                     _: Annotated[Principal, Depends(authorize(Scope.TASKS_RESOLVE))]) -> TaskPublic:
    """Run the refused step again unchanged (the cause was fixed in the other system)."""
    return await _decide(request, ctx, task_id, TaskAction.RETRY, body.actor)


@router.post("/{task_id}/cancel", response_model=TaskPublic)
async def cancel_task(task_id: str, body: Decision, request: Request, ctx: Ctx,
                      _: Annotated[Principal, Depends(authorize(Scope.TASKS_RESOLVE))]) -> TaskPublic:
    """Stop the run: it ends as `cancelled`; what it created so far stays."""
    return await _decide(request, ctx, task_id, TaskAction.CANCEL, body.actor)
