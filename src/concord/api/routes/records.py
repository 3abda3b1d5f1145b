"""Golden records with provenance, and lifecycle moves made by Concord itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from concord.api.deprecation import CUSTOMER_BY_ID, announce
from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.canonical.lifecycle import LifecycleState
from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.security.scopes import Principal, Scope
from concord.storage import queries
from concord.views import GoldenRecordPublic, golden_view

router = APIRouter(prefix="/api/v1", tags=["records"])
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))]
Writer = Annotated[Principal, Depends(authorize(Scope.CHANGES_WRITE))]


class LifecycleMove(BaseModel):
    to: LifecycleState
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: str | None = Field(default=None, max_length=255)
    correlation_id: str | None = Field(default=None, max_length=128)


def _load(ctx: AppContext, record_id: str, principal: Principal) -> GoldenRecordPublic:
    with ctx.engine.connect() as conn:
        record = queries.golden_record(conn, record_id)
        if record is None:
            raise Problem(404, "Not found", f"no golden record {record_id}")
        require_tenant(principal, record.tenant)
        return golden_view(record, queries.bindings_of(conn, record_id))


@router.get("/records/{record_id}", response_model=GoldenRecordPublic)
def read_record(record_id: str, ctx: Ctx, principal: Reader) -> GoldenRecordPublic:
    return _load(ctx, record_id, principal)


@router.get("/customers/{customer_id}", response_model=GoldenRecordPublic, deprecated=True)
def read_customer(customer_id: str, ctx: Ctx, principal: Reader, response: Response) -> GoldenRecordPublic:
    """Deprecated alias of `GET /api/v1/records/{id}` for accounts (see CHANGELOG.md): answers carry
    Deprecation, Sunset and a successor Link."""
    announce(response, CUSTOMER_BY_ID, customer_id=customer_id)
    view = _load(ctx, customer_id, principal)
    if view.entity != "account":
        raise Problem(404, "Not found", f"{customer_id} is a {view.entity}, not a customer")
    return view


@router.post("/customers/{customer_id}/lifecycle", status_code=202, response_model=ChangePublic,
             responses={409: {"description": "illegal lifecycle transition"}})
async def move_lifecycle(customer_id: str, move: LifecycleMove, ctx: Ctx, principal: Writer) -> ChangePublic:
    view = _load(ctx, customer_id, principal)
    if view.entity != "account":
        raise Problem(404, "Not found", f"{customer_id} is a {view.entity}, not a customer")
    change = ChangeCreate(
        tenant=view.tenant, system="concord", entity="account", external_id=customer_id,
        fields={"lifecycle_state": move.to.value}, source_ts=datetime.now(UTC), canonical_id=customer_id,
        idempotency_key=move.idempotency_key or f"lifecycle:{new_id()}", correlation_id=move.correlation_id)
    outcome = (await asyncio.wrap_future(ctx.ingest.submit([change])))[0]
    if isinstance(outcome, ChangeError):
        raise Problem(outcome.status, outcome.title, outcome.detail, field=outcome.field)
    assert isinstance(outcome, ChangePublic)
    return outcome
