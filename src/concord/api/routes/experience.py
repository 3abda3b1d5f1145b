"""Experience API for other channels (partner portal, internal tools): the customer 360 as a read model, with
ETag and conditional GET, answered from the golden store — no source system is called."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.console.customer360 import Customer360, load_customer
from concord.console.invoices import OpenInvoicePublic, open_invoices
from concord.observability.projector import OpsProjector
from concord.security.scopes import Principal, Scope
from concord.views import GoldenRecordPublic

router = APIRouter(prefix="/api/v1/experience", tags=["experience"])
Ctx = Annotated[AppContext, Depends(context)]


class BlockedReasonPublic(BaseModel):
    code: str
    message: str
    system: str | None


class CustomerExperiencePublic(BaseModel):
    id: str
    tenant: str
    version: int
    name: str | None
    status: str | None
    blocked: bool
    blocked_reasons: list[BlockedReasonPublic]
    credit_status: str | None
    subscription: dict[str, Any] | None
    entitlements: list[dict[str, Any]]
    open_invoices: list[OpenInvoicePublic]
    billing_accounts: list[dict[str, Any]]
    cross_system_ids: dict[str, str]


def _records(records: list[GoldenRecordPublic]) -> list[dict[str, Any]]:
    return [{"id": r.id, "version": r.version, **r.record} for r in records]


def experience_view(c: Customer360, today: date | None = None) -> CustomerExperiencePublic:
    subs = _records(c.of("subscription"))
    live = [s for s in subs if s.get("status") not in ("canceled", None)] or subs
    invoices = open_invoices(c.of("invoice"), today or datetime.now(UTC).date())
    return CustomerExperiencePublic(
        id=c.view.id, tenant=c.view.tenant, version=c.view.version, name=c.view.record.get("name"),
        status=c.view.record.get("lifecycle_state"), blocked=bool(c.blocked),
        blocked_reasons=[BlockedReasonPublic(code=b.code, message=b.message, system=b.system) for b in c.blocked],
        credit_status=c.view.record.get("credit_status"), subscription=live[0] if live else None,
        entitlements=_records(c.of("entitlement")), open_invoices=invoices,
        billing_accounts=_records(c.of("billing_account")),
        cross_system_ids={b.system: b.external_id for b in c.view.bindings})


def _load(ctx: AppContext, request: Request, customer_id: str) -> CustomerExperiencePublic | None:
    projector: OpsProjector = request.app.state.ops.projector(ctx.engine)
    projector.catch_up()  # related-record links are a projection: bring it up to date (incremental, usually 0 rows)
    with ctx.engine.connect() as conn:
        found = load_customer(conn, customer_id)
    return None if found is None else experience_view(found)


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


@router.get("/customers/{customer_id}", response_model=CustomerExperiencePublic,
            responses={304: {"description": "not modified (If-None-Match matched the ETag)"}})
async def read_customer_experience(
        customer_id: str, ctx: Ctx, request: Request,
        principal: Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))],
        if_none_match: Annotated[str | None, Header()] = None) -> Response:
    view = await asyncio.to_thread(_load, ctx, request, customer_id)
    if view is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    require_tenant(principal, view.tenant)
    body = view.model_dump_json().encode()
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and (if_none_match.strip() == "*" or etag in _tags(if_none_match)):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
