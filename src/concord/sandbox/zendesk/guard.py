"""What every API request passes first: the `.json` suffix, authentication and the plan's rate limit."""

from __future__ import annotations

import base64
import binascii
import hmac
import math

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from concord.sandbox.common import SlidingWindowLimiter
from concord.sandbox.zendesk.errors import RATE_LIMITED_TEXT, ZendeskError, unauthenticated
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.sandbox.zendesk.web import error_response

API_PREFIX = "/api/v2/"


class JsonSuffix:
    """Zendesk serves every endpoint with and without `.json`; clients such as zenpy always add it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(API_PREFIX) and path.endswith(".json"):
            scope = dict(scope)
            scope["path"] = path.removesuffix(".json")
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


def is_authenticated(header: str | None, settings: ZendeskTwinSettings) -> bool:
    """API token basic auth (`{email}/token:{api_token}`) or an OAuth bearer token."""
    if not header:
        return False
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return any(hmac.compare_digest(credentials, token) for token in settings.oauth_tokens)
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    login, _, secret = decoded.partition(":")
    expected_login = f"{settings.email}/token".casefold()
    return login.casefold() == expected_login and hmac.compare_digest(secret, settings.api_token)


def new_limiter(settings: ZendeskTwinSettings) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(limit=settings.requests_per_minute, window_s=60.0, clock=settings.clock)


def _rate_headers(limiter: SlidingWindowLimiter, remaining: int, reset: int) -> dict[str, str]:
    limit = str(limiter.limit)
    return {
        "X-Rate-Limit": limit,
        "X-Rate-Limit-Remaining": str(remaining),
        "ratelimit-limit": limit,
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset),
    }


class ZendeskGuard(BaseHTTPMiddleware):
    """Rejects unauthenticated calls, counts the rest against the account's per-minute limit.

    The limiter lives on `app.state.limiter` so the admin reset can replace it.
    """

    def __init__(self, app: ASGIApp, settings: ZendeskTwinSettings):
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not request.url.path.startswith(API_PREFIX):
            return await call_next(request)
        if not is_authenticated(request.headers.get("authorization"), self.settings):
            return error_response(unauthenticated())
        limiter: SlidingWindowLimiter = request.app.state.limiter
        wait = limiter.check()
        if wait > 0:
            retry_after = max(math.ceil(wait), 1)
            headers = {**_rate_headers(limiter, 0, retry_after), "Retry-After": str(retry_after)}
            return error_response(ZendeskError(429, RATE_LIMITED_TEXT, headers))
        # The documented headers describe "the current minute"; reset counts down to its end.
        reset = 60 - int(self.settings.clock()) % 60
        headers = _rate_headers(limiter, limiter.remaining(), reset)
        response = await call_next(request)
        response.headers.update(headers)
        return response
