"""The console's CSRF seam: every form carries a token the server issued, checked before any POST acts.

`SignedCsrfGuard` is a double-submit token: an HMAC of a random per-browser cookie value under a per-process
secret. It is the hook the security work (#8) replaces with a session-bound guard; routes only call
`issue` and `verify` through the `CsrfGuard` protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

from fastapi import Request, Response

COOKIE = "concord_csrf"
FIELD = "csrf_token"


class CsrfGuard(Protocol):
    def issue(self, request: Request, response: Response) -> str: ...

    def verify(self, request: Request, token: str | None) -> bool: ...


class SignedCsrfGuard:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def with_random_secret(cls) -> SignedCsrfGuard:
        return cls(secrets.token_bytes(32))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def nonce(self, request: Request) -> str:
        return request.cookies.get(COOKIE) or request.state.__dict__.setdefault("csrf_nonce", secrets.token_hex(16))

    def issue(self, request: Request, response: Response) -> str:
        nonce = self.nonce(request)
        if request.cookies.get(COOKIE) != nonce:
            response.set_cookie(COOKIE, nonce, httponly=True, samesite="strict", path="/console")
        return self._sign(nonce)

    def verify(self, request: Request, token: str | None) -> bool:
        nonce = request.cookies.get(COOKIE)
        return bool(nonce and token and hmac.compare_digest(self._sign(nonce), token))
