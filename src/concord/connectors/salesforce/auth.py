"""OAuth 2.0 for a connected app: client-credentials or refresh-token grant, one session shared by all calls.

Salesforce's token response carries no `expires_in`: a session simply stops working (session timeout, an
admin revoking it, a password policy) and the next call answers 401 `INVALID_SESSION_ID`. So the session is
fetched lazily, and the first 401 of a request fetches a new one and repeats that request once; a second
401 is a real `AuthError`. Data calls go to the `instance_url` the token response names.

Secrets (client secret, refresh token, access token) live only in the config's `SecretStr`s, this object
and the outgoing requests; token failures are reported by their OAuth `error` code, redacted.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from concord.connectors.base import AuthError, ConnectorError, RateLimited, RetryableError
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.http import OPERATION_EXTENSION
from concord.connectors.runtime.quota_headers import parse_retry_after
from concord.connectors.runtime.redact import redact_text
from concord.connectors.salesforce.config import SYSTEM, SalesforceConfig

TOKEN_OPERATION = "oauth.token"


@dataclass(frozen=True)
class Session:
    """An access token and the org instance it is valid for."""

    access_token: str = field(repr=False)
    instance_url: str
    issued_at: str | None = None


def _token_error(response: httpx.Response, now: float) -> ConnectorError:
    """The typed error for a refused or failed token request (RFC 6749 `{"error", "error_description"}`)."""
    status = response.status_code
    if status == 429:
        raw = response.headers.get("retry-after")
        retry_after = None if raw is None else parse_retry_after(raw, now)
        return RateLimited(SYSTEM, "token request rate limited", retry_after=retry_after)
    if status >= 500:
        return RetryableError(SYSTEM, f"token request failed with {status}")
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    error = body.get("error", "unknown_error") if isinstance(body, dict) else "unknown_error"
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    # Credentials refused (invalid_client, invalid_grant, inactive_user ...): retrying cannot help.
    return AuthError(SYSTEM, redact_text(f"token request refused ({status}): {error}: {description}"))


def _session_from(body: Any, pinned_instance: str | None) -> Session:
    if not isinstance(body, dict) or not body.get("access_token"):
        raise AuthError(SYSTEM, "token response carries no access_token")
    instance = pinned_instance or body.get("instance_url")
    if not isinstance(instance, str) or not instance:
        raise AuthError(SYSTEM, "token response carries no instance_url")
    issued = body.get("issued_at")
    return Session(str(body["access_token"]), instance.rstrip("/"), str(issued) if issued else None)


def _rebase(request: httpx.Request, instance_url: str) -> None:
    """Point a request at another instance (an org moved between the two sessions)."""
    target = httpx.URL(instance_url)
    request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
    request.headers["Host"] = target.netloc.decode("ascii")


class OAuthSession(httpx.Auth):
    """Stamps `Authorization: Bearer <session>`; on a 401 fetches a new session and repeats the request once."""

    def __init__(self, config: SalesforceConfig, token_client: httpx.Client, clock: Clock | None = None) -> None:
        self._config = config
        self._client = token_client
        self._clock: Clock = clock or SystemClock()
        self._session: Session | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many sessions were minted; a steady rise means sessions keep dying

    def __repr__(self) -> str:
        return f"OAuthSession(client_id={self._config.client_id!r}, grant={self._config.grant_type!r})"

    def current(self) -> Session:
        with self._lock:
            if self._session is None:
                self._session = self._fetch()
            return self._session

    def renew(self, stale: Session | None) -> Session:
        """A new session, unless another thread already replaced `stale`."""
        with self._lock:
            if self._session is None or self._session is stale:
                self._session = self._fetch()
            return self._session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        session = self.current()
        request.headers["Authorization"] = f"Bearer {session.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = self.renew(stale=session)
        if fresh.instance_url != session.instance_url:
            _rebase(request, fresh.instance_url)
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        yield request

    def _form(self) -> dict[str, str]:
        config = self._config
        form = {"grant_type": config.grant_type, "client_id": config.client_id}
        if config.client_secret is not None:
            form["client_secret"] = config.client_secret.get_secret_value()
        if config.grant_type == "refresh_token" and config.refresh_token is not None:
            form["refresh_token"] = config.refresh_token.get_secret_value()
        return form

    def _fetch(self) -> Session:
        self.fetches += 1
        extensions = {OPERATION_EXTENSION: TOKEN_OPERATION}
        try:
            response = self._client.post(
                self._config.token_url(), data=self._form(), headers={"Accept": "application/json"},
                extensions=extensions,
            )
        except httpx.TransportError as exc:
            # Minting a second session is harmless, so even a lost answer is simply retryable.
            raise RetryableError(SYSTEM, f"token request failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise _token_error(response, self._clock.time())
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise RetryableError(SYSTEM, "token response is not JSON") from exc
        return _session_from(body, self._config.instance_url)
