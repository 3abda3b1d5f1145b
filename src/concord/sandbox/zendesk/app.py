"""The Zendesk Support twin as an ASGI app: `create_app(settings)`; the store is `app.state.store`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from concord.sandbox.zendesk import routes_misc, routes_orgs, routes_users
from concord.sandbox.zendesk.errors import ZendeskError, bad_request_text, invalid_endpoint
from concord.sandbox.zendesk.guard import JsonSuffix, ZendeskGuard, new_limiter
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.sandbox.zendesk.store import ZendeskStore
from concord.sandbox.zendesk.web import error_response


async def _zendesk_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZendeskError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    # Unknown paths and unsupported methods both answer as Zendesk does for an endpoint it lacks.
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return error_response(invalid_endpoint())
    return error_response(ZendeskError(exc.status_code, str(exc.detail)))


async def _validation_error(_: Request, exc: Exception) -> Response:
    return error_response(bad_request_text())


def create_app(settings: ZendeskTwinSettings | None = None) -> FastAPI:
    """A fresh, empty Zendesk account. Admin endpoints under `/__twin__/` need no auth and are not limited."""
    settings = settings or ZendeskTwinSettings()
    app = FastAPI(title="Zendesk Support twin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = ZendeskStore(settings)
    app.state.limiter = new_limiter(settings)
    app.include_router(routes_orgs.router)
    app.include_router(routes_users.router)
    app.include_router(routes_misc.router)
    app.add_exception_handler(ZendeskError, _zendesk_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(ZendeskGuard, settings=settings)
    app.add_middleware(JsonSuffix)
    return app
