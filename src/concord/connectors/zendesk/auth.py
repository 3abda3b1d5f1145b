"""Zendesk credentials: API-token basic auth or an OAuth bearer token, refreshed once after a 401.

API tokens do not expire, so a 401 with one means the token was revoked and needs a human. OAuth access
tokens can expire; when a `TokenRefresher` is given, the client asks it for a fresh token once and repeats
the call (safe even for writes: Zendesk authenticates before it processes anything).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable

from concord.connectors.zendesk.config import ZendeskConfig

TokenRefresher = Callable[[], str]


class ZendeskAuth:
    """Builds the Authorization header; the secret lives only in the config and in this object's header."""

    def __init__(self, config: ZendeskConfig, refresher: TokenRefresher | None = None) -> None:
        self._config = config
        self._refresher = refresher
        self._lock = threading.Lock()
        self._oauth = config.oauth_token.get_secret_value() if config.oauth_token is not None else None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ZendeskAuth(credential={self.credential_id!r})"

    @property
    def credential_id(self) -> str:
        """A stable, non-secret name for the credential: the rate governor keys buckets by it."""
        if self._config.api_token is not None:
            return f"token:{self._config.email}"
        token = self._config.oauth_token
        secret = token.get_secret_value() if token is not None else ""
        # A short digest tells tokens apart without revealing anything usable.
        return f"oauth:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"

    def header(self) -> str:
        if self._config.api_token is not None:
            raw = f"{self._config.email}/token:{self._config.api_token.get_secret_value()}"
            return "Basic " + base64.b64encode(raw.encode()).decode("ascii")
        with self._lock:
            return f"Bearer {self._oauth}"

    def refresh(self, rejected: str) -> bool:
        """Get a new OAuth token after `rejected` (the header that got the 401). False when nothing changed."""
        if self._refresher is None or self._config.api_token is not None:
            return False
        with self._lock:
            if f"Bearer {self._oauth}" != rejected:
                return True  # another thread refreshed already
            fresh = self._refresher()
            if not fresh or fresh == self._oauth:
                return False
            self._oauth = fresh
            self.refreshes += 1
            return True

