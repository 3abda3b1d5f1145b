"""Shared handling of console form posts: the CSRF check (the security guard of #8) and a redirect with a
message (post/redirect/get)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from concord.api.problems import Problem
from concord.security import audit
from concord.security.csrf import COOKIE, FIELD, guard_of
from concord.security.scopes import Principal


async def checked_form(request: Request) -> dict[str, str]:
    """The posted fields, after the CSRF token was verified (403 otherwise)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not guard_of(request).verify(request.cookies.get(COOKIE), values.get(FIELD)):
        raise Problem(403, "Forbidden", "missing or invalid CSRF token; reload the page and try again",
                      field=FIELD)
    return values


def back(path: str, message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'flash': message, 'kind': kind})}", status_code=303)


def record_action(engine: Engine, principal: Principal, action: str, object_type: str, object_id: str,
                  tenant: str | None = None, customer: str | None = None, system: str | None = None,
                  after: dict[str, Any] | None = None) -> None:
    """Write an operator's console action to the audit log (#8), attributed to the caller's key."""
    with engine.begin() as conn:
        audit.append(conn, audit.Entry(tenant=tenant or principal.tenant, actor=principal.actor, action=action,
                                       object_type=object_type, object_id=object_id, customer=customer,
                                       system=system, after=after))
