"""Private-app bearer authentication.

A HubSpot private app authenticates with one long-lived access token (`Authorization: Bearer pat-...`);
there is no OAuth refresh. A token can be rotated in HubSpot's UI, though, so when the token comes from a
secret reference the first 401 makes us read the reference again and repeat the request once: that picks
up a rotation, and a second 401 is a real `AuthError` for a human. The token lives only in the request
header and in this object; it is never logged and never part of an error message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator
from pathlib import Path

import httpx

from concord.connectors.base import AuthError
from concord.connectors.hubspot.config import SYSTEM, HubSpotConfig

SecretResolver = Callable[[str], str]


def resolve_secret(reference: str) -> str:
    """Built-in secret references: `env:NAME` and `file:/path`. Other schemes need an injected resolver."""
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if not value:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: environment variable is not set")
        return value.strip()
    if scheme == "file":
        try:
            return Path(target).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: {exc.strerror}") from exc
    raise AuthError(SYSTEM, f"secret reference scheme {scheme!r} needs a resolver")


class PrivateAppAuth(httpx.Auth):
    """Stamps the bearer token on each request; re-resolves a referenced token once after a 401."""

    def __init__(self, config: HubSpotConfig, resolver: SecretResolver | None = None) -> None:
        self._literal = config.access_token
        self._reference = config.access_token_ref
        self._resolver = resolver or resolve_secret
        self._token: str | None = None
        self._lock = threading.Lock()
        self.resolutions = 0  # how often the token was read; a steady rise means tokens keep being refused

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401 or self._reference is None:
            return
        fresh = self._refresh(stale=token)
        if fresh != token:
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request

    def _current(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._resolve()
            return self._token

    def _refresh(self, stale: str) -> str:
        """Read the reference again unless another thread already replaced the stale token."""
        with self._lock:
            if self._token is None or self._token == stale:
                self._token = self._resolve()
            return self._token

    def _resolve(self) -> str:
        self.resolutions += 1
        if self._literal is not None:
            return self._literal.get_secret_value()
        assert self._reference is not None  # the config validator guarantees one of the two
        token = self._resolver(self._reference)
        if not token:
            raise AuthError(SYSTEM, f"secret reference {self._reference!r} resolved to an empty token")
        return token
