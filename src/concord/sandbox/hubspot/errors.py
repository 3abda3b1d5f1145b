"""HubSpot's error envelope and the handlers that render it.

Every CRM v3 error carries `status: "error"`, a `message`, a `correlationId` (also sent as the
`X-HubSpot-Correlation-Id` header) and a `category`; validation failures of property values embed the
per-property verdicts as JSON inside the message, which clients parse, so the twin reproduces that too.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

JsonObject = dict[str, object]

CORRELATION_HEADER = "X-HubSpot-Correlation-Id"


@dataclass
class PropertyProblem:
    """One rejected property value, as HubSpot lists it inside "Property values were not valid"."""

    name: str
    error: str
    message: str


@dataclass(eq=False)
class HubSpotError(Exception):
    """An error response: raised anywhere in a handler, rendered with the request's correlation id."""

    status_code: int
    category: str
    message: str
    extra: JsonObject = field(default_factory=dict)

    def body(self, correlation_id: str) -> JsonObject:
        return {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
            **self.extra,
        }


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def correlation_id_of(request: Request) -> str:
    existing = getattr(request.state, "correlation_id", None)
    if isinstance(existing, str):
        return existing
    created = new_correlation_id()
    request.state.correlation_id = created
    return created


def validation_error(message: str, extra: JsonObject | None = None) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, extra or {})


def invalid_properties(problems: list[PropertyProblem], portal_id: int) -> HubSpotError:
    """The 400 HubSpot sends for unknown or malformed property values, one verdict per property."""
    verdicts = [
        {
            "isValid": False,
            "message": p.message,
            "error": p.error,
            "name": p.name,
            "localizedErrorMessage": p.message,
            "portalId": portal_id,
        }
        for p in problems
    ]
    details: list[JsonObject] = [
        {"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}} for p in problems
    ]
    message = "Property values were not valid: " + json.dumps(verdicts, separators=(",", ":"))
    return validation_error(message, {"errors": details})


def object_not_found(object_id: str) -> HubSpotError:
    return HubSpotError(
        404,
        "OBJECT_NOT_FOUND",
        "Object not found.  objectId are usually numeric.",
        {"context": {"id": [object_id]}},
    )


def unique_conflict(label: str, prop: str, value: str, existing_id: str) -> HubSpotError:
    """409 for a value already held by another record in a unique property (contact email included)."""
    detail = f"A {label.lower()} with {prop} {value} already exists. Existing ID: {existing_id}"
    return HubSpotError(
        409,
        "CONFLICT",
        f"{label} already exists. Existing ID: {existing_id}",
        {"errors": [{"message": detail, "in": prop}]},
    )


def unauthorized() -> HubSpotError:
    return HubSpotError(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )


def error_response(request: Request, error: HubSpotError) -> JSONResponse:
    correlation_id = correlation_id_of(request)
    return JSONResponse(
        error.body(correlation_id),
        status_code=error.status_code,
        headers={CORRELATION_HEADER: correlation_id},
    )


async def _on_hubspot_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubSpotError)
    return error_response(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error = HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
    elif exc.status_code == 405:
        error = HubSpotError(405, "VALIDATION_ERROR", f"HTTP method {request.method} is not supported")
    else:
        error = HubSpotError(exc.status_code, "VALIDATION_ERROR", str(exc.detail))
    return error_response(request, error)


async def _on_invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error_response(request, validation_error(f"Invalid request parameter {where}: {first.get('msg')}"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HubSpotError, _on_hubspot_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
