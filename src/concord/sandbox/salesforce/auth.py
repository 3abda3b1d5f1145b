"""OAuth 2.0 for the twin: the token endpoint (client credentials and refresh token grants), revocation,
and the bearer-session check every REST call passes first.

Access tokens look like Salesforce session ids (`<org id>!<secret>`). They expire a fixed lifetime after
issue on the twin's clock, or at once through `expire_all` (the admin route), which is how tests make a
client meet `INVALID_SESSION_ID` and refresh.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from concord.sandbox.salesforce.errors import OAuthError, invalid_session, missing_auth_header
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.salesforce.store import Store

_NO_CACHE = {"Cache-Control": "no-cache,no-store"}


@dataclass
class Sessions:
    settings: SalesforceTwinSettings
    store: Store
    _expiry: dict[str, datetime] = field(default_factory=dict)
    _refresh: dict[str, str] = field(default_factory=dict)

    def issue(self) -> tuple[str, datetime]:
        token = f"{self.settings.org_id[:15]}!AQ{secrets.token_urlsafe(60)}"
        issued = self.store.now()
        self._expiry[token] = issued + timedelta(seconds=self.settings.token_lifetime_s)
        return token, issued

    def valid(self, token: str) -> bool:
        expiry = self._expiry.get(token)
        return expiry is not None and self.store.now() < expiry

    def expire_all(self) -> int:
        """End every access token now (refresh tokens stay valid). Returns how many were live."""
        now = self.store.now()
        live = [token for token, expiry in self._expiry.items() if expiry > now]
        for token in live:
            self._expiry[token] = now
        return len(live)

    def revoke(self, token: str) -> bool:
        return self._expiry.pop(token, None) is not None or self._refresh.pop(token, None) is not None

    def mint_refresh_token(self) -> str:
        """A refresh token as the web-server flow would have handed it to the connected app."""
        token = f"5Aep861twin{secrets.token_urlsafe(48)}"
        self._refresh[token] = self.settings.client_id
        return token

    def refresh_valid(self, token: str) -> bool:
        return token in self._refresh


def authenticate(state_sessions: Sessions, authorization: str | None) -> None:
    """Raise the 401 Salesforce answers unless `Authorization` carries a live session."""
    if not authorization:
        raise missing_auth_header()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token.strip():
        raise missing_auth_header()
    if not state_sessions.valid(token.strip()):
        raise invalid_session()


def _signature(secret: str, identity: str, issued_at: str) -> str:
    digest = hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def _params(request: Request) -> dict[str, str]:
    """Form fields, query parameters and HTTP Basic client credentials, all of which Salesforce accepts."""
    params = dict(request.query_params)
    params.update(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
        params.setdefault("client_id", client_id)
        params.setdefault("client_secret", secret)
    return params


def _check_client(settings: SalesforceTwinSettings, params: dict[str, str], secret_required: bool) -> None:
    if params.get("client_id") != settings.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    secret = params.get("client_secret")
    if (secret_required or secret is not None) and secret != settings.client_secret:
        raise OAuthError("invalid_client", "invalid client credentials")


def _token_body(request: Request, sessions: Sessions) -> dict[str, str]:
    settings = sessions.settings
    token, issued = sessions.issue()
    issued_at = str(int(issued.timestamp() * 1000))
    instance = settings.instance_url or str(request.base_url).rstrip("/")
    identity = f"{instance}/id/{settings.org_id}/{settings.user_id}"
    return {
        "access_token": token,
        "signature": _signature(settings.client_secret, identity, issued_at),
        "scope": "api",
        "instance_url": instance,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }


async def token(request: Request) -> JSONResponse:
    sessions: Sessions = request.app.state.twin.sessions
    params = await _params(request)
    grant = params.get("grant_type")
    if grant == "client_credentials":
        _check_client(sessions.settings, params, secret_required=True)
    elif grant == "refresh_token":
        _check_client(sessions.settings, params, secret_required=False)
        if not sessions.refresh_valid(params.get("refresh_token", "")):
            raise OAuthError("invalid_grant", "expired access/refresh token")
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    return JSONResponse(_token_body(request, sessions), headers=_NO_CACHE)


async def revoke(request: Request) -> Response:
    sessions: Sessions = request.app.state.twin.sessions
    if not sessions.revoke((await _params(request)).get("token", "")):
        raise OAuthError("unsupported_token_type", "this token type is not supported")
    return Response(status_code=200, headers=_NO_CACHE)


def oauth_router() -> APIRouter:
    router = APIRouter(prefix="/services/oauth2")
    router.add_api_route("/token", token, methods=["POST"])
    router.add_api_route("/revoke", revoke, methods=["POST"])
    return router
