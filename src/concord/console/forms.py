"""Shared handling of console form posts: the CSRF check and a redirect with a message (post/redirect/get)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse

from concord.api.problems import Problem
from concord.console.csrf import FIELD


async def checked_form(request: Request) -> dict[str, str]:
    """The posted fields, after the CSRF token was verified (403 otherwise)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not request.app.state.ops.csrf.verify(request, values.get(FIELD)):
        raise Problem(403, "Forbidden", "missing or invalid CSRF token; reload the page and try again",
                      field=FIELD)
    return values


def back(path: str, message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'flash': message, 'kind': kind})}", status_code=303)


def actor_of(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return str(getattr(principal, "actor", "local"))
