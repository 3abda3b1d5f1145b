"""/metrics (Prometheus; hub-wide: it spans tenants, so an all-tenant key with metrics:read scrapes it),
/healthz (liveness) and /readyz (database, event backend, each system) — the last two public for probes."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from concord.api.deps import AppContext, context, optional_principal
from concord.api.routes.mapping_changes import hub_wide
from concord.events.hub import EventSettings
from concord.observability.health import check_database, check_event_backend, check_systems
from concord.security.scopes import Scope

router = APIRouter(tags=["health"])
Ctx = Annotated[AppContext, Depends(context)]


@router.get("/metrics", response_class=Response, dependencies=[Depends(hub_wide(Scope.METRICS_READ))])
async def metrics(request: Request) -> Response:
    body = await asyncio.to_thread(generate_latest, request.app.state.ops.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# /healthz and /readyz are open: load balancers and orchestrators probe them without credentials. They report
# up/down per dependency and never customer data.
@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Nothing else is checked (a restart would not fix a database outage).
    Public, like /readyz: probes carry no key, and neither answer holds tenant data."""
    return {"status": "ok"}


def _readiness(ctx: AppContext, request: Request) -> dict[str, Any]:
    configured = sorted(ctx.runtime.hub.systems)
    core = [check_database(ctx.engine), check_event_backend(EventSettings(), ctx.engine)]
    systems = check_systems(configured, request.app.state.ops.probes)
    failing = [c.name for c in core if c.status != "ok"] + [c.name for c in systems if c.status == "failing"]
    return {"status": "not_ready" if failing else "ready", "failing": failing, "checks": [asdict(c) for c in core],
            "systems": [asdict(c) for c in systems]}


def _answer(ctx: AppContext, request: Request) -> dict[str, Any]:
    """Status and the names of failing checks for anyone (an orchestrator's probe has no key); latency, detail
    and credential state per check only for a key with metrics:read."""
    body = _readiness(ctx, request)
    principal = optional_principal(request)
    if principal is not None and principal.allows(Scope.METRICS_READ):
        return body
    return {"status": body["status"], "failing": body["failing"]}


@router.get("/readyz", responses={503: {"description": "a dependency is failing"}})
async def readyz(ctx: Ctx, request: Request) -> JSONResponse:
    body = await asyncio.to_thread(_answer, ctx, request)
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)
