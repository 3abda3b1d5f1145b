"""What route handlers receive: the engine, the runtime configuration, the ingest service, and who is calling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from structlog.contextvars import bind_contextvars

from concord.api.problems import Problem
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.scale.front import ScaleFront
from concord.security.keys import authenticate
from concord.security.scopes import ALL_TENANTS, Principal, Scope
from concord.settings import Settings

LOCAL_ADMIN = Principal(key_id="local", tenant=ALL_TENANTS, scopes=frozenset({Scope.ADMIN}), actor="local")


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    runtime: Runtime
    ingest: IngestService
    front: ScaleFront | None = None  # scale mode: changes go to the bus, workers apply them


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.concord
    return ctx


KEY_COOKIE = "concord_key"


def presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>`, `X-API-Key: <key>`, or the console's `concord_key` cookie.

    The cookie lets a browser use console pages; it is set SameSite=Strict and HttpOnly by the console's login
    (so no other site can make the browser send it), and console form posts also need `csrf_protect`.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    return request.headers.get("x-api-key") or request.cookies.get(KEY_COOKIE) or None


def principal_of(request: Request) -> Principal:
    """Authenticate the caller (401 problem when there is no valid key); no scope is checked here."""
    ctx = context(request)
    if ctx.settings.auth == "disabled":  # developer mode: only ever set explicitly (CONCORD_AUTH=disabled)
        return LOCAL_ADMIN
    token = presented_key(request)
    if token is None:
        raise Problem(401, "Unauthorized", "an API key is required: Authorization: Bearer <key> or X-API-Key")
    with ctx.engine.connect() as conn:
        principal = authenticate(conn, token)
    if principal is None:
        raise Problem(401, "Unauthorized", "the API key is not valid (unknown, expired or revoked)")
    return principal


def optional_principal(request: Request) -> Principal | None:
    """Who is calling, or None without a valid key: for public routes that show more to a key holder."""
    try:
        return principal_of(request)
    except Problem:
        return None


def authorize(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits a caller holding `scope`, and returns who it is (401 / 403 problem otherwise).

    Routes must also keep the caller inside its tenant: filter queries by `principal.tenant` and refuse objects
    of another tenant with `require_tenant`.
    """

    # Async on purpose: what an async dependency binds stays in the request's context, so every log line the
    # route writes (its sync body runs in a copy of that context) carries the caller's tenant. The key lookup
    # itself is a database read: off the event loop.
    async def dependency(request: Request) -> Principal:
        principal = await run_in_threadpool(principal_of, request)
        if not principal.allows(scope):
            raise Problem(403, "Forbidden", f"this API key lacks the scope {scope.value!r}", scope=scope.value)
        request.state.principal = principal
        bind_contextvars(tenant=principal.tenant)
        return principal

    dependency.__concord_scope__ = scope  # type: ignore[attr-defined]
    return dependency


def require_tenant(principal: Principal, tenant: str) -> None:
    """Refuse (403) an object or a request of another tenant than the caller's."""
    if not principal.sees(tenant):
        raise Problem(403, "Forbidden", "this API key is not allowed to use that tenant's data", field="tenant")


def tenant_filter(principal: Principal, requested: str | None) -> str | None:
    """The tenant a list query is restricted to: the caller's own (None only for an all-tenant key)."""
    if requested is not None:
        require_tenant(principal, requested)
        return requested
    return None if principal.tenant == "*" else principal.tenant


def hub_operator(request: Request) -> None:
    """A router-level dependency for hub-wide tools (the console, /metrics) that show every tenant's data: only
    an all-tenant key passes. Router dependencies run before the route's own `authorize`, so this one
    authenticates by itself."""
    require_tenant(principal_of(request), ALL_TENANTS)
