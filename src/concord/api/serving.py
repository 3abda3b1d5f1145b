"""The app `concord serve` runs: the API, plus the workflow runtime when a connections file is configured.

`create_app` takes an already launched engine (tests, `concord workflows worker --serve`). A served process owns
its engine instead: it is launched when the app starts (the journal resumes this executor's unfinished runs then) and
destroyed when it stops, so `/api/v1/process/...` works from plain `concord serve --connections FILE`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI

from concord.api.app import create_app
from concord.delivery.sync_plan import SyncPlan, hosted_sync, plan_sync
from concord.hubconfig import Runtime, load_runtime
from concord.scale.settings import ScaleSettings
from concord.settings import Settings
from concord.workflows.hosting import connections_file, hosted_workflows


@asynccontextmanager
async def _syncing(served: FastAPI, plan: SyncPlan | None, idle_s: float) -> AsyncIterator[None]:
    """The sync loop over the app's own engine and ingest service, stopped before they are."""
    with ExitStack() as syncing:
        if plan is not None:
            context = served.state.concord
            served.state.sync = syncing.enter_context(
                hosted_sync(plan, context.engine, context.ingest, idle_s, own_targets=False))
        try:
            yield
        finally:
            await asyncio.to_thread(syncing.close)  # joins the loop's threads


def create_serving_app(settings: Settings, runtime: Runtime | None = None,
                       scale: ScaleSettings | None = None) -> FastAPI:
    runtime = runtime or load_runtime(settings.config_dir, settings.mapping_sync_s)
    app = create_app(settings, runtime, scale=scale)
    if settings.connections is None:
        return app  # process routes answer 503 until a connections file is configured
    connections = connections_file(settings)  # a missing file fails at startup, naming the setting
    # Scale workers own delivery and capture there; elsewhere the same process runs the sync loop (decision 078),
    # planned here so a bad `capture:` entry stops the start before anything listens.
    plan = plan_sync(connections, runtime) if settings.sync and not settings.scale else None
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            # One set of connectors for the workflow steps and the sync loop: one rate governor per vendor
            # allowance, one SCIM discovery; closed last, after both have stopped.
            shared = None if plan is None else plan.targets
            if shared is not None:
                stack.callback(shared.close)
            hosting = hosted_workflows(settings, runtime, connections, targets=shared)
            # The engine launches synchronously (and resumes runs): off the event loop.
            served.state.workflows = await asyncio.to_thread(stack.enter_context, hosting)
            try:
                async with inner(served), _syncing(served, plan, settings.sync_idle_s):
                    yield
            finally:
                served.state.workflows = None
                served.state.sync = None
                await asyncio.to_thread(stack.close)

    app.router.lifespan_context = lifespan
    return app
