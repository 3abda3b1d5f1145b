"""Customer pages: find a customer, and the customer 360 with "why blocked" at the top."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, select

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.console.app import render
from concord.console.customer360 import Customer360, load_customer
from concord.console.invoices import open_invoices
from concord.observability import tables as ot
from concord.security.scopes import Principal, Scope
from concord.storage import tables as t

router = APIRouter(prefix="/console/customers", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))]
LIST_LIMIT = 50


def find_customers(conn: Connection, q: str | None, tenant: str | None = None) -> list[dict[str, Any]]:
    """By canonical id, by any system's external id, else by name fragment; recently changed first. `tenant`
    None means every tenant (an all-tenant key)."""
    g, b = t.golden_records.c, t.bindings.c
    cols = (g.id, g.tenant, g.lifecycle_state, g.updated_at, g.data)
    query = select(*cols).where(g.entity == "account")
    if tenant is not None:
        query = query.where(g.tenant == tenant)
    if q:
        ids = [q, *conn.execute(select(b.canonical_id).where(b.external_id == q).limit(10)).scalars()]
        rows = conn.execute(query.where(g.id.in_(ids))).all() or conn.execute(
            query.where(g.id.in_(_named(conn, q, tenant))).order_by(g.updated_at.desc())).all()
    else:
        rows = conn.execute(query.order_by(g.updated_at.desc()).limit(LIST_LIMIT)).all()
    return [{"id": r.id, "tenant": r.tenant, "state": r.lifecycle_state, "updated_at": r.updated_at,
             "name": _name(r.data)} for r in rows]


def _named(conn: Connection, q: str, tenant: str | None) -> list[str]:
    """Accounts whose name or legal name contains `q` (case-insensitive), from the projected name index."""
    n = ot.ops_customer_names.c
    query = select(n.canonical_id).where(n.search.like(f"%{_like(q.lower())}%", escape="\\")).limit(LIST_LIMIT)
    if tenant is not None:
        query = query.where(n.tenant == tenant)
    return list(conn.execute(query).scalars())


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name(data: str) -> str | None:
    entry = orjson.loads(data).get("f", {}).get("name")
    return entry[0] if entry else None


@router.get("", response_class=HTMLResponse)
async def customer_list(ctx: Ctx, request: Request, principal: Reader,
                        q: Annotated[str | None, Query(max_length=200)] = None,
                        tenant: Annotated[str | None, Query(max_length=64)] = None) -> HTMLResponse:
    scope = tenant_filter(principal, tenant or None)

    def load() -> list[dict[str, Any]]:
        if q:
            request.app.state.ops.projector(ctx.engine).catch_up()  # names are a projection: bring it up to date
        with ctx.engine.connect() as conn:
            return find_customers(conn, q.strip() if q else None, scope)

    return render(request, "customers.html", customers=await asyncio.to_thread(load), q=q or "")


def _load(ctx: AppContext, request: Request, customer_id: str) -> Customer360 | None:
    request.app.state.ops.projector(ctx.engine).catch_up()
    with ctx.engine.connect() as conn:
        return load_customer(conn, customer_id)


@router.get("/{customer_id}", response_class=HTMLResponse)
async def customer_page(ctx: Ctx, request: Request, customer_id: str, principal: Reader) -> HTMLResponse:
    found = await asyncio.to_thread(_load, ctx, request, customer_id)
    if found is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    require_tenant(principal, found.view.tenant)
    invoices = open_invoices(found.of("invoice"), datetime.now(UTC).date())
    return render(request, "customer.html", c=found, invoices=invoices)
