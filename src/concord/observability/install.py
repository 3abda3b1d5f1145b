"""Wiring of operations into the FastAPI app: metrics registry, request spans and log context, probes and
the projector, kept on `app.state.ops`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine

from concord.ingest.admission import WaitingCount
from concord.observability.health import SystemProbe
from concord.observability.logs import UNKNOWN_TENANT, log_context
from concord.observability.metrics import OpsMetrics, build_metrics
from concord.observability.projector import OpsProjector
from concord.observability.tracing import configure_tracing, current_trace_id, span

TRACE_HEADER = "X-Trace-Id"


@dataclass
class OpsState:
    metrics: OpsMetrics
    probes: dict[str, SystemProbe] = field(default_factory=dict)
    _projectors: dict[int, OpsProjector] = field(default_factory=dict)

    def projector(self, engine: Engine) -> OpsProjector:
        """One projector per engine, so its lock serialises every catch-up of that database."""
        return self._projectors.setdefault(id(engine), OpsProjector(engine))


def _engine_of(app: FastAPI) -> Callable[[], Engine | None]:
    def engine() -> Engine | None:
        ctx = getattr(app.state, "concord", None)
        return None if ctx is None else ctx.engine

    return engine


def _waiting_of(app: FastAPI) -> Callable[[], WaitingCount | None]:
    def waiting() -> WaitingCount | None:
        ctx = getattr(app.state, "concord", None)
        return None if ctx is None else ctx.ingest.waiting

    return waiting


def _journal_of(app: FastAPI) -> Callable[[], str | None]:
    """The workflow journal beside the app's database (whichever process hosts the workflows)."""
    def url() -> str | None:
        from concord.workflows.engine import system_url_for

        ctx = getattr(app.state, "concord", None)
        if ctx is None:
            return None
        try:
            return system_url_for(ctx.engine.url.render_as_string(hide_password=False))
        except ValueError:  # an in-memory database has no journal
            return None

    return url


def install_operations(app: FastAPI, otlp_endpoint: str | None) -> OpsState:
    configure_tracing(otlp_endpoint)
    def catch_up(engine: Engine) -> int:
        return state.projector(engine).catch_up()

    state = OpsState(metrics=build_metrics(_engine_of(app), catch_up, _journal_of(app), _waiting_of(app)))
    app.state.ops = state

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation = request.headers.get("x-correlation-id")
        started = time.perf_counter()
        attrs = {"http.request.method": request.method, "url.path": request.url.path}
        with span(f"{request.method} {request.url.path}", attrs) as current, \
                log_context(correlation_id=correlation, step="api"):
            response = await call_next(request)
            current.set_attribute("http.response.status_code", response.status_code)
            trace_id = current_trace_id()
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        principal = getattr(request.state, "principal", None)  # set by `authorize` once the key is checked
        tenant = getattr(principal, "tenant", None) or UNKNOWN_TENANT
        state.metrics.api_requests.labels(tenant, "api", f"{request.method} {template}",
                                          f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        if trace_id:
            response.headers[TRACE_HEADER] = trace_id
        return response

    return state
