"""POST /api/v1/changes: answered 202 only after the change is durable (committed, or in scale mode held by the
JetStream stream the workers read)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.ingest.admission import IngestOverloaded
from concord.ingest.models import BatchItemResult, ChangeCreate, ChangeError, ChangePublic, ChangeQueued
from concord.ingest.processor import Outcome
from concord.scale.front import BusUnavailable
from concord.security.scopes import Principal, Scope
from concord.storage import queries
from concord.storage.tables import golden_records

router = APIRouter(prefix="/api/v1", tags=["changes"])
Ctx = Annotated[AppContext, Depends(context)]
Writer = Annotated[Principal, Depends(authorize(Scope.CHANGES_WRITE))]
Reader = Annotated[Principal, Depends(authorize(Scope.CHANGES_READ))]


class ChangeBatchCreate(BaseModel):
    changes: list[ChangeCreate] = Field(min_length=1, max_length=5000)


class ChangeBatchPublic(BaseModel):
    accepted: int
    failed: int
    results: list[BatchItemResult]


def in_tenant(principal: Principal, change: ChangeCreate) -> ChangeCreate:
    """A change without a tenant belongs to the caller's; one naming another tenant is refused."""
    if "tenant" not in change.model_fields_set and principal.tenant != "*":
        return change.model_copy(update={"tenant": principal.tenant})
    require_tenant(principal, change.tenant)
    return change


def foreign_records(ctx: AppContext, changes: list[ChangeCreate]) -> None:
    """Refuse (403) a change that names, by canonical_id, a record of another tenant or entity: ingest would
    otherwise apply it to that record."""
    named = {c.canonical_id: c for c in changes if c.canonical_id}
    if not named:
        return
    g = golden_records.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(g.id, g.tenant, g.entity).where(g.id.in_(sorted(named)))).all()
    for row in rows:
        change = named[row.id]
        if (row.tenant, row.entity) != (change.tenant, change.entity):
            raise Problem(403, "Forbidden", "canonical_id names a record this change may not write",
                          field="canonical_id")


def _raise(error: ChangeError) -> None:
    raise Problem(error.status, error.title, error.detail, field=error.field, errors=error.errors or None)


async def publish(ctx: AppContext, changes: list[ChangeCreate]) -> list[ChangeQueued | ChangeError]:
    """Scale mode: answered once JetStream holds the changes (durable before acknowledged, decision 064)."""
    assert ctx.front is not None
    try:
        return await asyncio.to_thread(ctx.front.submit, changes)
    except BusUnavailable as exc:
        raise Problem(503, "Service unavailable", f"{exc}; nothing was accepted, retry the request") from exc


def admit(ctx: AppContext, changes: list[ChangeCreate]) -> Future[list[Outcome]]:
    """Queue for the writer, or 503 with Retry-After while it is too far behind (nothing queued: decision 086)."""
    try:
        return ctx.ingest.admit(changes)
    except IngestOverloaded as exc:
        raise Problem(503, "Ingest overloaded", str(exc), headers={"Retry-After": str(exc.retry_after_s)},
                      waiting=exc.waiting, limit=exc.limit) from exc


@router.post("/changes", status_code=202, response_model=ChangePublic | ChangeQueued,
             responses={409: {"description": "illegal lifecycle transition"}, 422: {"description": "invalid"},
                        503: {"description": "ingest overloaded (Retry-After), or in scale mode the change bus "
                                              "is unavailable"}})
async def create_change(change: ChangeCreate, ctx: Ctx, response: Response,
                        principal: Writer) -> ChangePublic | ChangeQueued:
    change = in_tenant(principal, change)
    await asyncio.to_thread(foreign_records, ctx, [change])
    if ctx.front is not None:
        queued = (await publish(ctx, [change]))[0]
        if isinstance(queued, ChangeError):
            _raise(queued)
        assert isinstance(queued, ChangeQueued)
        return queued
    outcome = (await asyncio.wrap_future(admit(ctx, [change])))[0]
    if isinstance(outcome, ChangeError):
        _raise(outcome)
    assert isinstance(outcome, ChangePublic)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome


@router.post("/changes/batch", status_code=202, response_model=ChangeBatchPublic,
             responses={503: {"description": "ingest overloaded (Retry-After), or in scale mode the change bus is "
                                             "unavailable"}})
async def create_changes(batch: ChangeBatchCreate, ctx: Ctx, principal: Writer) -> ChangeBatchPublic:
    """Bulk load: each change is judged on its own; the accepted ones are durable when this answers."""
    changes = [in_tenant(principal, change) for change in batch.changes]
    await asyncio.to_thread(foreign_records, ctx, changes)
    outcomes: list[ChangePublic | ChangeQueued | ChangeError]
    if ctx.front is not None:
        outcomes = list(await publish(ctx, changes))
    else:
        committed: list[ChangePublic | ChangeError] = await asyncio.wrap_future(admit(ctx, changes))
        outcomes = list(committed)
    results = [BatchItemResult(index=i, error=o) if isinstance(o, ChangeError) else BatchItemResult(index=i, result=o)
               for i, o in enumerate(outcomes)]
    failed = sum(1 for r in results if r.error is not None)
    return ChangeBatchPublic(accepted=len(results) - failed, failed=failed, results=results)


@router.get("/changes/{change_id}", response_model=ChangePublic)
def read_change(change_id: str, ctx: Ctx, principal: Reader) -> ChangePublic:
    with ctx.engine.connect() as conn:
        row = queries.change(conn, change_id)
    if row is None:
        raise Problem(404, "Not found", f"no change {change_id}")
    require_tenant(principal, row["tenant"])
    return ChangePublic.model_validate_json(row["decision"])
