"""`create_app(settings)`: the HubSpot CRM v3 twin as a FastAPI application.

The store is exposed as `app.state.store` and the auth/rate-limit gate as `app.state.gate` for tests;
`/__twin__/` holds admin endpoints real HubSpot does not have (reset, record counts, 429 statistics).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from concord.sandbox.hubspot.errors import install_error_handlers
from concord.sandbox.hubspot.gate import Gate, install_gate
from concord.sandbox.hubspot.routes_batch import BatchEndpoints
from concord.sandbox.hubspot.routes_objects import ObjectEndpoints
from concord.sandbox.hubspot.routes_properties import property_router
from concord.sandbox.hubspot.settings import HubSpotTwinSettings
from concord.sandbox.hubspot.store import TwinStore

ADMIN_PREFIX = "/__twin__"


def _admin_router(store: TwinStore, gate: Gate) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX)

    @router.post("/reset")
    async def reset() -> JSONResponse:
        store.reset()
        gate.reset()
        return JSONResponse({"reset": True})

    @router.get("/counts")
    async def counts() -> JSONResponse:
        return JSONResponse(store.counts())

    @router.get("/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(gate.stats.to_json())

    return router


def create_app(settings: HubSpotTwinSettings | None = None) -> FastAPI:
    settings = settings or HubSpotTwinSettings()
    wall_clock = settings.wall_clock
    store = TwinStore(settings.portal_id, lambda: int(wall_clock() * 1000))
    gate = Gate(settings)
    app = FastAPI(title="HubSpot CRM v3 twin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    app.state.gate = gate
    install_error_handlers(app)
    install_gate(app, gate)
    # Batch routes first: `/batch/create` must not be taken for an object id.
    app.include_router(BatchEndpoints(store, settings).router())
    app.include_router(ObjectEndpoints(store, settings).router())
    app.include_router(property_router(store))
    app.include_router(_admin_router(store, gate))
    return app
