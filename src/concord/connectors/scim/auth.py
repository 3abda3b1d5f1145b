"""SCIM credentials: an OAuth bearer token (RFC 7644 §2), refreshed once after a 401, or none at all.

Providers hand out long-lived bearer tokens for provisioning clients; when a `TokenRefresher` is given (an
OAuth client-credentials grant, a secret store), a 401 gets one fresh token and one repeat of the call.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from concord.connectors.scim.config import ScimConfig

TokenRefresher = Callable[[], str]


class ScimAuth:
    """Holds the current token; `header()` is None when the provider needs no authentication."""

    def __init__(self, config: ScimConfig, refresher: TokenRefresher | None = None) -> None:
        self._refresher = refresher
        self._lock = threading.Lock()
        self._token = config.bearer_token.get_secret_value() if config.bearer_token is not None else None
        # A short digest tells credentials apart for the rate governor without revealing anything usable.
        digest = hashlib.sha256((self._token or "").encode()).hexdigest()[:12]
        self.credential_id = f"bearer:{digest}" if self._token else "anonymous"
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ScimAuth(credential={self.credential_id!r})"

    def header(self) -> str | None:
        with self._lock:
            return None if self._token is None else f"Bearer {self._token}"

    def refresh(self, rejected: str | None) -> bool:
        """Get a new token after `rejected` (the header that got the 401). False when nothing changed."""
        if self._refresher is None:
            return False
        with self._lock:
            current = None if self._token is None else f"Bearer {self._token}"
            if current != rejected:
                return True  # another thread refreshed already
            fresh = self._refresher()
            if not fresh or fresh == self._token:
                return False
            self._token = fresh
            self.refreshes += 1
            return True
