"""The FastAPI application factory; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

import concord
from concord.api.deps import AppContext
from concord.api.problems import install_problem_handlers
from concord.api.routes import approvals, changes, records, review
from concord.hubconfig import Runtime, load_runtime
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the database is migrated and the ingest writer started when the app starts."""
    runtime = runtime or load_runtime(settings.config_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.sqlite_synchronous)
        upgrade(engine)
        service = IngestService(engine, runtime, settings.max_batch)
        service.start()
        app.state.concord = AppContext(settings=settings, engine=engine, runtime=runtime, ingest=service)
        try:
            yield
        finally:
            service.stop()
            engine.dispose()

    app = FastAPI(title="Concord", version=concord.__version__, lifespan=lifespan,
                  description="Customer lifecycle hub: canonical model, field ownership, golden records.")
    install_problem_handlers(app)
    for module in (changes, records, approvals, review):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, str]:
        ctx: AppContext = app.state.concord
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ready", "database": "ok"}

    return app
