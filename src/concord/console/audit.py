"""Audit log viewer: search and filter by actor, customer and system."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from concord.api.deps import AppContext, authorize, context
from concord.console.app import render
from concord.console.sources import AuditFilter, audit_entries
from concord.security.scopes import Scope

router = APIRouter(prefix="/console/audit", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Text = Annotated[str | None, Query(max_length=128)]


@router.get("", response_class=HTMLResponse, dependencies=[Depends(authorize(Scope.AUDIT_READ))])
async def audit(ctx: Ctx, request: Request, actor: Text = None, customer: Text = None, system: Text = None
                ) -> HTMLResponse:
    f = AuditFilter(actor=actor or None, customer=customer or None, system=system or None)

    def load() -> list[object]:
        with ctx.engine.connect() as conn:
            return list(audit_entries(conn, f))

    return render(request, "audit.html", entries=await asyncio.to_thread(load), f=f)
