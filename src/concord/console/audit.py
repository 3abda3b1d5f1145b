"""Audit log viewer: the hash-chained audit log (#8), searchable by actor, customer, system and action, kept
inside the caller's tenant; a customer search also shows the customer's master-data changes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from concord.api.deps import AppContext, authorize, context, tenant_filter
from concord.console.app import render
from concord.security import audit_query
from concord.security.scopes import Principal, Scope

router = APIRouter(prefix="/console/audit", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Text = Annotated[str | None, Query(max_length=128)]
Reader = Annotated[Principal, Depends(authorize(Scope.AUDIT_READ))]
DETAIL_CHARS = 240


def _detail(entry: dict[str, Any]) -> str:
    shown = {k: entry.get(k) for k in ("before", "after") if entry.get(k) is not None}
    text = orjson.dumps(shown).decode() if shown else ""
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"


@router.get("", response_class=HTMLResponse)
async def audit(ctx: Ctx, request: Request, principal: Reader, actor: Text = None, customer: Text = None,
                system: Text = None, action: Text = None, tenant: Text = None) -> HTMLResponse:
    f = audit_query.AuditFilter(tenant=tenant_filter(principal, tenant or None), actor=actor or None,
                                customer=customer or None, system=system or None, action=action or None)

    def load() -> list[dict[str, Any]]:
        with ctx.engine.connect() as conn:
            return [{**e, "detail": _detail(e)} for e in audit_query.entries(conn, f)]

    return render(request, "audit.html", entries=await asyncio.to_thread(load), f=f)
