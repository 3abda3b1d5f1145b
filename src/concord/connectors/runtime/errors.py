"""Turning HTTP outcomes into the contract's typed errors, the same way for every HTTP connector.

Connectors with vendor-specific error bodies (Salesforce `errorCode`, Stripe `error.type`) refine these, but
the transport rules are shared: a failure before the request left is always safe to retry, and a write
whose response was lost is ambiguous, never a plain failure.
"""

from __future__ import annotations

import time

import httpx

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.quota_headers import parse_retry_after
from concord.connectors.runtime.redact import redact_body, redact_url

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A gateway answered for an upstream it lost track of: the upstream may well have applied the write.
_GATEWAY_STATUSES = frozenset({502, 504})
_SNIPPET_CHARS = 300


def is_write(request: httpx.Request) -> bool:
    return request.method.upper() in WRITE_METHODS


def _describe(response: httpx.Response) -> str:
    request = response.request
    body = redact_body(response.content[: _SNIPPET_CHARS * 4], response.headers.get("content-type"))
    where = f"{request.method} {redact_url(str(request.url))}"
    return f"{where} -> {response.status_code}: {body[:_SNIPPET_CHARS]}"


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    return None if raw is None else parse_retry_after(raw, time.time())


def error_for_response(system: str, response: httpx.Response) -> ConnectorError | None:
    """The typed error for a non-2xx/3xx response, or None when the response is a success."""
    status = response.status_code
    if status < 400:
        return None
    message = _describe(response)
    if status == 429:
        return RateLimited(system, message, retry_after=_retry_after(response))
    if status >= 500:
        if status in _GATEWAY_STATUSES and is_write(response.request):
            return AmbiguousWrite(system, message, retry_after=_retry_after(response))
        return RetryableError(system, message, retry_after=_retry_after(response))
    if status in (401, 403):
        return AuthError(system, message)
    if status in (404, 410):
        return NotFound(system, message)
    if status in (409, 412):
        return Conflict(system, message)
    return DataRejected(system, message, code=str(status))


def error_for_transport(system: str, request: httpx.Request, exc: httpx.TransportError) -> ConnectorError:
    """The typed error for a transport failure: unsent → retryable; sent write, no answer → ambiguous."""
    where = f"{request.method} {redact_url(str(request.url))}: {type(exc).__name__}"
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        return RetryableError(system, f"{where} (not sent)")
    if is_write(request):
        return AmbiguousWrite(system, f"{where} (sent, outcome unknown)")
    return RetryableError(system, where)
