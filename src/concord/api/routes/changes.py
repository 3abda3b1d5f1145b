"""POST /api/v1/changes: answered 202 only after the change is durable."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from concord.api.deps import AppContext, context
from concord.api.problems import Problem
from concord.ingest.models import BatchItemResult, ChangeCreate, ChangeError, ChangePublic
from concord.storage import queries

router = APIRouter(prefix="/api/v1", tags=["changes"])
Ctx = Annotated[AppContext, Depends(context)]


class ChangeBatchCreate(BaseModel):
    changes: list[ChangeCreate] = Field(min_length=1, max_length=5000)


class ChangeBatchPublic(BaseModel):
    accepted: int
    failed: int
    results: list[BatchItemResult]


def _raise(error: ChangeError) -> None:
    raise Problem(error.status, error.title, error.detail, field=error.field, errors=error.errors or None)


@router.post("/changes", status_code=202, response_model=ChangePublic,
             responses={409: {"description": "illegal lifecycle transition"}, 422: {"description": "invalid"}})
async def create_change(change: ChangeCreate, ctx: Ctx, response: Response) -> ChangePublic:
    outcome = (await asyncio.wrap_future(ctx.ingest.submit([change])))[0]
    if isinstance(outcome, ChangeError):
        _raise(outcome)
    assert isinstance(outcome, ChangePublic)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome


@router.post("/changes/batch", status_code=202, response_model=ChangeBatchPublic)
async def create_changes(batch: ChangeBatchCreate, ctx: Ctx) -> ChangeBatchPublic:
    """Bulk load: each change is judged on its own; the accepted ones are durable when this answers."""
    outcomes = await asyncio.wrap_future(ctx.ingest.submit(batch.changes))
    results = [BatchItemResult(index=i, error=o) if isinstance(o, ChangeError) else BatchItemResult(index=i, result=o)
               for i, o in enumerate(outcomes)]
    failed = sum(1 for r in results if r.error is not None)
    return ChangeBatchPublic(accepted=len(results) - failed, failed=failed, results=results)


@router.get("/changes/{change_id}", response_model=ChangePublic)
def read_change(change_id: str, ctx: Ctx) -> ChangePublic:
    with ctx.engine.connect() as conn:
        row = queries.change(conn, change_id)
    if row is None:
        raise Problem(404, "Not found", f"no change {change_id}")
    return ChangePublic.model_validate_json(row["decision"])
