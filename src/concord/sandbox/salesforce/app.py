"""The Salesforce twin as a FastAPI app: `create_app(settings)`.

Every `/services/data/vNN.0/...` call passes the bearer-session check, then the daily API quota, and its
response carries `Sforce-Limit-Info: api-usage=N/M`. Errors use Salesforce's bodies and statuses. Routes
under `/__twin__/` exist only on the twin: reset, expire sessions, mint refresh tokens, set usage, counts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from concord.sandbox.salesforce.auth import authenticate, oauth_router
from concord.sandbox.salesforce.errors import ApiError, FieldError, OAuthError, limit_exceeded, not_found
from concord.sandbox.salesforce.routes_collections import collections_router
from concord.sandbox.salesforce.routes_query import query_router
from concord.sandbox.salesforce.routes_sobjects import sobjects_router
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.salesforce.state import TwinState, twin

_DATA_PATH = re.compile(r"^/services/data/(v\d+\.\d)(/.*)?$")
_LATEST = "v60.0"


class _StripTrailingSlash:
    """Salesforce answers `.../sobjects/Account/` and `.../query/` like the slash-less paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope, path=path.rstrip("/") or "/", raw_path=path.rstrip("/").encode())
        await self.app(scope, receive, send)


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body, status_code=error.status, headers=error.headers)


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Session check, quota, and the usage header for the data API."""
    path = request.url.path
    if not path.startswith("/services/data/") or path.rstrip("/") == "/services/data":
        return await call_next(request)
    state = twin(request)
    try:
        if not _DATA_PATH.match(path):
            raise not_found()
        authenticate(state.sessions, request.headers.get("authorization"))
        if not state.usage.take():
            raise limit_exceeded()
    except ApiError as error:
        response: Response = _error_response(error)
    else:
        response = await call_next(request)
    if response.status_code != 401:
        response.headers["Sforce-Limit-Info"] = state.usage.header()
    return response


def _allowed(request: Request) -> str:
    """Every method some route serves at this path, listed the way Salesforce lists them."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"):
        probe = dict(request.scope, method="GET" if method == "HEAD" else method)
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ",".join(allowed)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error_response(error)

    @app.exception_handler(OAuthError)
    async def oauth_error(_: Request, error: OAuthError) -> JSONResponse:
        body = {"error": error.error, "error_description": error.description}
        return JSONResponse(body, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {_allowed(request)}"
            return _error_response(ApiError.of(405, FieldError("METHOD_NOT_ALLOWED", message)))
        return _error_response(not_found())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error_response(ApiError.of(400, FieldError("MALFORMED_QUERY", str(error.errors()[:1]))))


async def versions(request: Request) -> JSONResponse:
    base = "/services/data"
    return JSONResponse([{"label": "Winter '24", "url": f"{base}/{_LATEST}", "version": _LATEST[1:]}])


async def resources(version: str) -> JSONResponse:
    base = f"/services/data/{version}"
    names = ("sobjects", "query", "queryAll", "composite", "limits")
    return JSONResponse({name: f"{base}/{name}" for name in names})


async def limits(request: Request) -> JSONResponse:
    usage = twin(request).usage
    return JSONResponse({
        "DailyApiRequests": {"Max": usage.limit, "Remaining": max(usage.limit - usage.used, 0)},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
    })


def _org_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/services/data", versions, methods=["GET"])
    router.add_api_route("/services/data/{version}", resources, methods=["GET"])
    router.add_api_route("/services/data/{version}/limits", limits, methods=["GET"])
    return router


async def reset(request: Request) -> JSONResponse:
    twin(request).reset()
    return JSONResponse({"reset": True})


async def expire_tokens(request: Request) -> JSONResponse:
    return JSONResponse({"expired": twin(request).sessions.expire_all()})


async def refresh_token(request: Request) -> JSONResponse:
    state = twin(request)
    return JSONResponse({"refresh_token": state.sessions.mint_refresh_token(),
                         "client_id": state.settings.client_id}, status_code=201)


async def set_usage(request: Request) -> JSONResponse:
    body = await request.json()
    used = body.get("used") if isinstance(body, dict) else None
    if not isinstance(used, int) or used < 0:
        raise ApiError.of(400, FieldError("INVALID_FIELD", "body must be {\"used\": <non-negative int>}"))
    usage = twin(request).usage
    usage.reset(used)
    return JSONResponse({"used": usage.used, "max": usage.limit})


async def counts(request: Request) -> JSONResponse:
    state = twin(request)
    body: dict[str, object] = dict(state.store.counts())
    body["api_usage"] = {"used": state.usage.used, "max": state.usage.limit}
    return JSONResponse(body)


def _admin_router() -> APIRouter:
    router = APIRouter(prefix="/__twin__")
    router.add_api_route("/reset", reset, methods=["POST"])
    router.add_api_route("/expire-tokens", expire_tokens, methods=["POST"])
    router.add_api_route("/refresh-tokens", refresh_token, methods=["POST"])
    router.add_api_route("/api-usage", set_usage, methods=["PUT"])
    router.add_api_route("/counts", counts, methods=["GET"])
    return router


def create_app(settings: SalesforceTwinSettings | None = None) -> FastAPI:
    """A fresh twin org. `app.state.store` is its data (for drift injection), `app.state.twin` all state."""
    state = TwinState.create(settings or SalesforceTwinSettings())
    app = FastAPI(title="Salesforce twin", docs_url=None, redoc_url=None, openapi_url=None,
                  redirect_slashes=False)
    app.state.twin = state
    app.state.store = state.store
    app.middleware("http")(_guard)
    app.add_middleware(_StripTrailingSlash)
    _install_error_handlers(app)
    for router in (oauth_router(), _org_router(), sobjects_router(), collections_router(), query_router(),
                   _admin_router()):
        app.include_router(router)
    return app
