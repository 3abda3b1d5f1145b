"""The FastAPI application factory; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

import concord
from concord.api.deps import AppContext
from concord.api.guards import NulGuard
from concord.api.problems import install_problem_handlers
from concord.api.routes import (
    approvals,
    audit,
    changes,
    keys,
    lifecycle_process,
    mapping_changes,
    ownership_changes,
    process,
    records,
    review,
    tasks,
)
from concord.connectors.base import Connector
from concord.console.app import install_console
from concord.hubconfig import Runtime, load_runtime
from concord.ingest.service import IngestService
from concord.observability.systems import load_connectors, watch_systems
from concord.scale.front import ScaleFront
from concord.scale.settings import ScaleSettings
from concord.security.install import install_security, start_security
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade
from concord.workflows.engine import WorkflowEngine


def _systems(given: Mapping[str, Connector] | None, hosted: WorkflowEngine | None,
             settings: Settings) -> tuple[Mapping[str, Connector], dict[str, Connector]]:
    """The connectors /readyz probes and the headroom sampler watches, and those this app built (and closes).
    One set per process: a second set would keep its own rate governor beside the hosted workflows' set."""
    if given is not None:
        return given, {}
    if hosted is not None:  # set by create_serving_app's lifespan before the app's own runs
        return hosted.services.endpoints(), {}
    owned = load_connectors(settings.connections)
    return owned, owned


def _lifespan(settings: Settings, runtime: Runtime, connectors: Mapping[str, Connector] | None,
              scale: ScaleSettings | None) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's start and stop: the database is migrated and the ingest writer started only when the app starts
    (building one touches nothing), and stopping closes what starting opened, newest first."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.sqlite_synchronous)
        upgrade(engine)
        start_security(engine, runtime)
        service = IngestService(engine, runtime, settings.max_batch, max_waiting=settings.ingest_max_waiting)
        service.start()
        front = ScaleFront.open(runtime, scale or ScaleSettings(), engine) if settings.scale else None
        app.state.concord = AppContext(settings=settings, engine=engine, runtime=runtime, ingest=service,
                                       front=front)
        systems, owned = _systems(connectors, app.state.workflows, settings)
        sampler = watch_systems(app.state.ops, engine, systems, settings.headroom_sample_s)
        try:
            yield
        finally:
            sampler.stop()
            for connector in owned.values():
                connector.close()
            if front is not None:
                front.close()
            service.stop()
            engine.dispose()

    return lifespan


def create_app(settings: Settings, runtime: Runtime | None = None, workflows: WorkflowEngine | None = None,
               connectors: Mapping[str, Connector] | None = None, scale: ScaleSettings | None = None) -> FastAPI:
    """Build the app; the database is migrated and the ingest writer started when the app starts. `workflows`:
    a launched engine serving the process API (without one, process routes answer 503). `connectors` (or the
    `connections` setting): the systems /readyz probes and whose rate-limit headroom the dashboard charts. With
    `settings.scale`, POST /changes publishes to the bus configured by `scale` (decision 064)."""
    runtime = runtime or load_runtime(settings.config_dir, settings.mapping_sync_s)
    lifespan = _lifespan(settings, runtime, connectors, scale)
    app = FastAPI(title="Concord", version=concord.__version__, lifespan=lifespan,
                  description="Customer lifecycle hub: canonical model, field ownership, golden records.")
    install_problem_handlers(app)
    app.add_middleware(NulGuard)
    install_security(app, settings)
    app.state.workflows = workflows
    for module in (changes, records, approvals, keys, audit, mapping_changes, ownership_changes, review, process,
                   tasks, lifecycle_process):
        app.include_router(module.router)
    install_console(app, settings.otlp_endpoint)  # metrics, health, traces, experience API and /console (#7)
    return app
