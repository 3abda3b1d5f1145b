"""`create_app(settings)`: the Stripe twin as a FastAPI application.

Every response carries `Request-Id`; /v1 responses also `Stripe-Version`. Authentication and the test-mode
rate limit apply to /v1 only — the /__twin__ admin routes are the test harness's, not Stripe's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from concord.sandbox.stripe import routes_admin, routes_billing, routes_catalog, routes_customers
from concord.sandbox.stripe.errors import (
    StripeApiError,
    invalid_api_key,
    missing_api_key,
    rate_limited,
)
from concord.sandbox.stripe.routing import error_response
from concord.sandbox.stripe.runtime import StripeTwin
from concord.sandbox.stripe.settings import StripeTwinSettings
from concord.sandbox.stripe.store import new_id

Next = Callable[[Request], Awaitable[Response]]


def presented_key(authorization: str | None) -> str | None:
    """The secret key from `Bearer KEY` or from HTTP Basic with the key as user name."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return value
        return decoded.split(":", 1)[0] or None
    return authorization


def _gate(twin: StripeTwin, request: Request) -> StripeApiError | None:
    key = presented_key(request.headers.get("Authorization"))
    if key is None:
        return missing_api_key()
    if key != twin.settings.api_key:
        return invalid_api_key(key)
    limiter = twin.read_limiter if request.method == "GET" else twin.write_limiter
    if limiter.check() > 0:
        return rate_limited()
    return None


def _install_middleware(app: FastAPI, twin: StripeTwin) -> None:
    @app.middleware("http")
    async def stripe_envelope(request: Request, call_next: Next) -> Response:
        request_id = new_id("req", 14)
        request.state.request_id = request_id
        is_api = request.url.path.startswith("/v1/")
        error = _gate(twin, request) if is_api else None
        response = error_response(error) if error is not None else await call_next(request)
        response.headers["Request-Id"] = request_id
        if is_api:
            response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", twin.settings.api_version)
        return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def unknown_route(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code not in (404, 405):
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": str(exc.detail)}}, status_code=exc.status_code
            )
        message = (
            f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
        return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status_code=404)

    @app.exception_handler(StripeApiError)
    async def stripe_error(request: Request, exc: StripeApiError) -> JSONResponse:
        return error_response(exc)


def create_app(settings: StripeTwinSettings) -> FastAPI:
    """Build a twin; the state is reachable as `app.state.store` (and `app.state.twin`)."""
    twin = StripeTwin.build(settings)
    app = FastAPI(title="Stripe sandbox twin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.twin = twin
    app.state.store = twin.store
    app.state.settings = twin.settings
    _install_middleware(app, twin)
    _install_error_handlers(app)
    for module in (routes_customers, routes_catalog, routes_billing, routes_admin):
        app.include_router(module.build_router())
    return app
