"""Customer pages: find a customer, and the customer 360 with "why blocked" at the top."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, select

from concord.api.deps import AppContext, authorize, context
from concord.console.app import render
from concord.console.customer360 import Customer360, load_customer
from concord.security.scopes import Scope
from concord.storage import tables as t

router = APIRouter(prefix="/console/customers", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Read = Depends(authorize(Scope.RECORDS_READ))
LIST_LIMIT = 50


def find_customers(conn: Connection, q: str | None) -> list[dict[str, Any]]:
    """By canonical id, by any system's external id, else by name fragment; recently changed first."""
    g, b = t.golden_records.c, t.bindings.c
    cols = (g.id, g.tenant, g.lifecycle_state, g.updated_at, g.data)
    query = select(*cols).where(g.entity == "account")
    if q:
        ids = [q, *conn.execute(select(b.canonical_id).where(b.external_id == q).limit(10)).scalars()]
        exact = conn.execute(query.where(g.id.in_(ids))).all()
        rows = exact or conn.execute(query.where(g.data.like(f'%"name":["%{_like(q)}%', escape="\\"))
                                     .order_by(g.updated_at.desc()).limit(LIST_LIMIT)).all()
    else:
        rows = conn.execute(query.order_by(g.updated_at.desc()).limit(LIST_LIMIT)).all()
    return [{"id": r.id, "tenant": r.tenant, "state": r.lifecycle_state, "updated_at": r.updated_at,
             "name": _name(r.data)} for r in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name(data: str) -> str | None:
    entry = orjson.loads(data).get("f", {}).get("name")
    return entry[0] if entry else None


@router.get("", response_class=HTMLResponse, dependencies=[Read])
async def customer_list(ctx: Ctx, request: Request, q: Annotated[str | None, Query(max_length=200)] = None
                        ) -> HTMLResponse:
    def load() -> list[dict[str, Any]]:
        with ctx.engine.connect() as conn:
            return find_customers(conn, q.strip() if q else None)

    return render(request, "customers.html", customers=await asyncio.to_thread(load), q=q or "")


def _load(ctx: AppContext, request: Request, customer_id: str) -> Customer360 | None:
    request.app.state.ops.projector(ctx.engine).catch_up()
    with ctx.engine.connect() as conn:
        return load_customer(conn, customer_id)


@router.get("/{customer_id}", response_class=HTMLResponse, dependencies=[Read])
async def customer_page(ctx: Ctx, request: Request, customer_id: str) -> HTMLResponse:
    found = await asyncio.to_thread(_load, ctx, request, customer_id)
    if found is None:
        return render(request, "not_found.html", status_code=404, what=f"customer {customer_id}")
    return render(request, "customer.html", c=found)
