"""The per-request envelope of every /v1 route: error rendering, event attribution and idempotency."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from concord.sandbox.stripe.errors import StripeApiError
from concord.sandbox.stripe.idempotency import SavedResponse, is_saved_status
from concord.sandbox.stripe.runtime import read_params, twin_of
from concord.sandbox.stripe.store import current_request

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def error_response(error: StripeApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _run(handler: Handler, request: Request) -> Response:
    try:
        return await handler(request)
    except StripeApiError as error:
        return error_response(error)
    except Exception:
        # A twin bug must still answer in Stripe's shape (clients map 500 to APIError), and say so in the log.
        logger.exception("stripe twin: unhandled error on %s %s", request.method, request.url.path)
        return error_response(StripeApiError(500, "An unknown error occurred", error_type="api_error"))


def _replay(saved: SavedResponse, key: str) -> Response:
    return Response(
        content=saved.body,
        status_code=saved.status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true", "Original-Request": saved.request_id, "Idempotency-Key": key},
    )


async def _idempotent(handler: Handler, request: Request, key: str) -> Response:
    twin = twin_of(request)
    request_id: str = request.state.request_id
    try:
        params = await read_params(request)
    except StripeApiError as error:
        return error_response(error)
    endpoint = f"{request.method} {request.url.path}"
    fingerprint = json.dumps(params.data, sort_keys=True)
    try:
        saved = twin.idempotency.lookup(key, endpoint, fingerprint)
    except StripeApiError as error:
        return error_response(error)
    if saved is not None:
        return _replay(saved, key)
    record: SavedResponse | None = None
    try:
        response = await _run(handler, request)
        if is_saved_status(response.status_code):
            body = bytes(response.body)
            record = SavedResponse(endpoint, fingerprint, response.status_code, body, request_id, twin.settings.clock())
    finally:
        twin.idempotency.finish(key, record)
    response.headers["Idempotency-Key"] = key
    return response


class StripeRoute(APIRoute):
    """Renders `StripeApiError` in Stripe's shape and applies `Idempotency-Key` to POSTs."""

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            token = current_request.set((getattr(request.state, "request_id", None), key))
            try:
                if key:
                    return await _idempotent(original, request, key)
                return await _run(original, request)
            finally:
                current_request.reset(token)

        return handler
