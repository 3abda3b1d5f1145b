"""Console sign-in for people: the login page (a static file, so it needs no key) posts an API key once; a
valid all-tenant key with `metrics:read` becomes the HttpOnly, SameSite=Strict `concord_key` cookie that
`authorize` accepts (#8). Sign-out clears it. The key is checked on every later request, so revoking it ends
the session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from concord.api.deps import KEY_COOKIE, authorize, context, presented_key, require_tenant
from concord.api.problems import Problem
from concord.console.forms import checked_form, record_action
from concord.security.csrf import set_key_cookie
from concord.security.keys import authenticate
from concord.security.scopes import ALL_TENANTS, Principal, Scope

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
LOGIN_PAGE = "/console/static/login.html"
FIELD = "api_key"


async def console_login(request: Request) -> tuple[Principal, str]:
    """The key posted by the login form (or presented in a header): 401 when absent or invalid, 403 unless it
    may open the console (metrics:read, all tenants)."""
    token: str | None = None
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        posted = (await request.form()).get(FIELD)
        token = posted.strip() if isinstance(posted, str) and posted.strip() else None
    token = token or presented_key(request)
    if token is None:
        raise Problem(401, "Unauthorized", "an API key is required", field=FIELD)
    with context(request).engine.connect() as conn:
        principal = authenticate(conn, token)
    if principal is None:
        raise Problem(401, "Unauthorized", "the API key is not valid (unknown, expired or revoked)", field=FIELD)
    if not principal.allows(Scope.METRICS_READ):
        raise Problem(403, "Forbidden", "this API key lacks the scope 'metrics:read'", scope=Scope.METRICS_READ.value)
    require_tenant(principal, ALL_TENANTS)
    return principal, token


console_login.__concord_scope__ = Scope.METRICS_READ  # type: ignore[attr-defined]


@router.post("/login")
async def login(request: Request, signed_in: Annotated[tuple[Principal, str], Depends(console_login)]
                ) -> RedirectResponse:
    principal, token = signed_in
    response = RedirectResponse("/console/dashboard", status_code=303)
    set_key_cookie(request, response, token)
    record_action(context(request).engine, principal, "console.login", "api_key", principal.key_id,
                  tenant=ALL_TENANTS)
    return response


@router.post("/logout")
async def logout(request: Request, principal: Annotated[Principal, Depends(authorize(Scope.METRICS_READ))]
                 ) -> RedirectResponse:
    await checked_form(request)
    require_tenant(principal, ALL_TENANTS)
    response = RedirectResponse(LOGIN_PAGE, status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/")
    return response
