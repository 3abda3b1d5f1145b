"""CSRF protection for console forms: a signed double-submit token.

`issue(response)` sets the token in a cookie and returns it for the form's hidden `csrf_token` field (or the
`X-CSRF-Token` header of a script). `csrf_protect` (a FastAPI dependency) accepts an unsafe request only when
the submitted token equals the cookie, carries a valid HMAC of this server's key and is not older than its
lifetime. A cross-site page can make the browser send the cookie but can neither read it nor forge a signature.

The console uses it like:

    @router.get("/console/x")
    def page(request: Request, response: Response) -> HTMLResponse: ... issue_csrf(request, response) ...

    @router.post("/console/x", dependencies=[Depends(csrf_protect)])
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from fastapi import Request, Response

from concord.api.problems import Problem

COOKIE = "concord_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfGuard:
    def __init__(self, key: bytes, max_age_s: float = 8 * 3600, secure_cookie: bool = True) -> None:
        if len(key) < 16:
            raise ValueError("the CSRF key needs at least 16 bytes")
        self._key = key
        self.max_age_s = max_age_s
        self.secure_cookie = secure_cookie

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, now: float | None = None) -> str:
        payload = f"{int(time.time() if now is None else now)}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def valid(self, token: str, now: float | None = None) -> bool:
        stamp, _, rest = token.partition(".")
        nonce, _, signature = rest.partition(".")
        if not stamp.isdigit() or not nonce or not signature:
            return False
        if not hmac.compare_digest(self._sign(f"{stamp}.{nonce}"), signature):
            return False
        age = (time.time() if now is None else now) - int(stamp)
        return 0 <= age <= self.max_age_s

    def verify(self, cookie: str | None, submitted: str | None, now: float | None = None) -> bool:
        if not cookie or not submitted or not hmac.compare_digest(cookie, submitted):
            return False
        return self.valid(submitted, now)


def guard_of(request: Request) -> CsrfGuard:
    guard: CsrfGuard = request.app.state.csrf
    return guard


def issue_csrf(request: Request, response: Response) -> str:
    """A fresh token: set as cookie on `response`; put the returned value in the form's `csrf_token` field."""
    guard = guard_of(request)
    token = guard.issue()
    response.set_cookie(COOKIE, token, max_age=int(guard.max_age_s), httponly=True, samesite="strict",
                        secure=guard.secure_cookie, path="/")
    return token


def set_key_cookie(request: Request, response: Response, token: str) -> None:
    """After a console login: the API key as an HttpOnly, SameSite=Strict cookie that `authorize` accepts."""
    response.set_cookie("concord_key", token, httponly=True, samesite="strict", secure=guard_of(request).secure_cookie,
                        path="/", max_age=12 * 3600)


async def csrf_protect(request: Request) -> None:
    """FastAPI dependency for console form posts: 403 problem unless the double-submitted token checks out."""
    if request.method in SAFE_METHODS:
        return
    submitted = request.headers.get(HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        submitted = value if isinstance(value, str) else None
    if not guard_of(request).verify(request.cookies.get(COOKIE), submitted):
        raise Problem(403, "Forbidden", "missing or invalid CSRF token; reload the page and submit again",
                      field=FIELD)
