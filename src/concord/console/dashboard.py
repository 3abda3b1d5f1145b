"""Operations dashboard: headline figures, charts over time (per minute), lag, headroom and quotas."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import Connection, Engine

from concord.api.deps import AppContext, authorize, context, tenant_filter
from concord.console.app import render
from concord.console.charts import Series, bar_chart, line_chart
from concord.observability import figures, latency, projector
from concord.observability.headroom import HEADROOM, QUOTA_LEFT, headroom_series, sample_headroom
from concord.observability.install import OpsState
from concord.security.scopes import Principal, Scope

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.METRICS_READ))]
WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
# Points per line stay ≤ 120 (a week of minutes would be an SVG of 10,000 points per series); whole hours are
# read from the hourly rollup.
STEPS = {"1h": 60, "6h": 180, "24h": 720, "7d": 7200}
STATUSES = ("applied", "partial", "no_op", "rejected", "pending")


@dataclass
class Filters:
    tenant: str | None
    system: str | None
    window: str


def refresh(ops: OpsState, engine: Engine) -> None:
    """Bring the projections up to date and flush this process's connector call samples."""
    ops.projector(engine).catch_up()
    samples = ops.metrics.drain()
    watched = ops.metrics.headroom.watched()
    if samples or watched:
        with engine.begin() as conn:
            latency.flush_calls(conn, [s for s, _ in samples], tenants=[t for _, t in samples])
            sample_headroom(conn, watched)  # the charts' newest point is this process's governors now


def summary(engine: Engine, ops: OpsState, f: Filters) -> dict[str, Any]:
    refresh(ops, engine)
    with engine.connect() as conn:
        total = projector.totals(conn, f.tenant, f.system)
        dead = figures.dead_letter_counts(conn)
        tasks = {k: n for k, n in figures.open_task_counts(conn).items() if f.tenant in (None, k[0])}
        quality = figures.quality(conn)
    changes = sum(total.get(f"changes_{s}", 0.0) for s in STATUSES)
    return {
        "changes": int(changes), "applied": int(total.get("changes_applied", 0) + total.get("changes_partial", 0)),
        "rejected_fields": int(total.get("rejected_fields", 0)),
        "failed_syncs": int(total.get("event_SyncFailed", 0)),
        "duplicates": int(total.get("event_DuplicateDetected", 0)),
        "replays": int(total.get("replays", 0)),
        "dead_letters": sum(n for (_, status), n in dead.items() if status == "dead"),
        "open_tasks": sum(tasks.values()),
        "quality_exceptions": sum(n for (tn, sys_name, _), n in quality.items()
                                  if (not f.tenant or tn == f.tenant) and (not f.system or sys_name == f.system)),
        "commands": int(total.get("commands", 0)),
        "at": time.time(),
    }


def charts(engine: Engine, ops: OpsState, f: Filters) -> list[Markup]:
    step = STEPS[f.window]
    end = projector.minute(time.time())
    end -= end % step
    start = end - WINDOWS[f.window] + step
    names = [f"changes_{s}" for s in STATUSES] + ["event_SyncFailed", "event_DuplicateDetected", "dead_letters",
                                                   "replays", "commands"]
    with engine.connect() as conn:
        got = projector.series(conn, names, start, f.tenant, f.system, step)
        lat = latency.percentiles(conn, start, f.tenant, f.system, step)
        lag = figures.event_lag(conn)
        headroom = _headroom_charts(conn, f, start, end, step)
    throughput = [Series(s, got[f"changes_{s}"]) for s in STATUSES if got[f"changes_{s}"]]
    per = "minute" if step == 60 else f"{step // 60} minutes"
    out = [line_chart(f"Changes per {per} by outcome", throughput, start, end, step=step),
           line_chart(f"Failed syncs, dead letters, duplicates, replays per {per}",
                      [Series("failed syncs", got["event_SyncFailed"]), Series("dead letters", got["dead_letters"]),
                       Series("duplicates", got["event_DuplicateDetected"]), Series("replays", got["replays"])],
                      start, end, step=step),
           line_chart(f"Outbound commands per {per}", [Series("commands", got["commands"])], start, end, step=step)]
    for name, by_minute in sorted(lat.items()):
        lines = [Series(q, {b: (v[i] or 0.0) * 1000 for b, v in by_minute.items()})
                 for i, q in enumerate(("p50", "p95", "p99"))]
        out.append(line_chart(f"API latency of {name} (ms)", lines, start, end, unit=" ms", step=step,
                              summed=False))
    out.append(bar_chart("Event lag per subscription", [(k, float(v), None) for k, v in sorted(lag.items())]))
    return out + headroom


def _headroom_charts(conn: Connection, f: Filters, start: int, end: int, step: int) -> list[Markup]:
    """Tokens left and daily quota left per (system, tenant, credential), from the sampled series."""
    lowest = "" if step == 60 else f", lowest per {step // 60} minutes"
    out = []
    for title, prefix in ((f"Rate-limit headroom (tokens left{lowest})", HEADROOM),
                          (f"Daily quota left (calls{lowest})", QUOTA_LEFT)):
        keyed = headroom_series(conn, prefix, start, f.tenant, f.system, step)
        out.append(line_chart(title, [Series(k.label, points) for k, points in keyed.items()], start, end,
                              step=step, sampled=True))
    return out


def _filters(principal: Principal, tenant: str | None, system: str | None, window: str) -> Filters:
    """A tenant-bound key sees its own tenant only (403 for another); an all-tenant key may pick any."""
    return Filters(tenant_filter(principal, tenant or None), system or None, window if window in WINDOWS else "1h")


TenantQ = Annotated[str | None, Query(max_length=64)]
WindowQ = Annotated[str, Query(pattern="^(1h|6h|24h|7d)$")]


@router.get("")
def console_root(principal: Reader, tenant: TenantQ = None) -> RedirectResponse:
    tenant_filter(principal, tenant or None)
    return RedirectResponse("/console/dashboard", status_code=307)


def _page(ctx: AppContext, request: Request, f: Filters) -> dict[str, Any]:
    ops: OpsState = request.app.state.ops
    figures_now = summary(ctx.engine, ops, f)
    with ctx.engine.connect() as conn:
        tenants, systems = projector.dimensions(conn)
    if f.tenant is not None:
        tenants = [f.tenant]
    return {"figures": figures_now, "charts": charts(ctx.engine, ops, f), "tenants": tenants, "systems": systems,
            "filters": f, "windows": list(WINDOWS)}


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(ctx: Ctx, request: Request, principal: Reader, tenant: TenantQ = None, system: TenantQ = None,
                    window: WindowQ = "1h") -> HTMLResponse:
    values = await asyncio.to_thread(_page, ctx, request, _filters(principal, tenant, system, window))
    return render(request, "dashboard.html", **values)


@router.get("/dashboard/charts", response_class=HTMLResponse)
async def dashboard_charts(ctx: Ctx, request: Request, principal: Reader, tenant: TenantQ = None,
                           system: TenantQ = None, window: WindowQ = "1h") -> HTMLResponse:
    """The chart fragment the page's refresh script swaps in."""
    f = _filters(principal, tenant, system, window)
    made = await asyncio.to_thread(charts, ctx.engine, request.app.state.ops, f)
    return HTMLResponse("".join(made))


@router.get("/api/summary")
async def dashboard_summary(ctx: Ctx, request: Request, principal: Reader, tenant: TenantQ = None,
                            system: TenantQ = None) -> dict[str, Any]:
    f = _filters(principal, tenant, system, "1h")
    return await asyncio.to_thread(summary, ctx.engine, request.app.state.ops, f)
