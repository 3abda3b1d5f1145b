"""Secret-key authentication: `Authorization: Bearer sk_...` plus the pinned `Stripe-Version` on every call.

Stripe has no token exchange: the key itself is the credential. What can change is the key (a rolled key,
an expired restricted key), so a key given by reference is re-resolved once after a 401; if that yields the
same key the 401 stands and needs a human. The key never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from concord.connectors.base import AuthError
from concord.connectors.stripe.config import SYSTEM, StripeConfig

SecretResolver = Callable[[str], str]


def resolve_secret(reference: str) -> str:
    """Built-in references: `env:NAME` and `file:/path`. Other schemes need an injected resolver."""
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if value is None:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: environment variable is not set")
        return value.strip()
    if scheme == "file":
        try:
            return Path(target).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: {exc.strerror}") from exc
    raise AuthError(SYSTEM, f"secret reference scheme {scheme!r} needs a resolver")


class StripeAuth:
    """Holds the current secret key; builds the auth headers; re-reads a referenced key after a 401."""

    def __init__(self, config: StripeConfig, resolver: SecretResolver | None = None) -> None:
        self._config = config
        self._resolver = resolver or resolve_secret
        self._key: str | None = None
        self._lock = threading.Lock()
        self.resolutions = 0  # how often the key was (re-)read; a rising count means keys keep failing

    def __repr__(self) -> str:
        return f"StripeAuth(credential_id={self._config.credential_id!r})"

    def _resolve(self) -> str:
        if self._config.api_key is not None:
            return self._config.api_key.get_secret_value()
        assert self._config.api_key_ref is not None  # the config validator guarantees one of the two
        key = self._resolver(self._config.api_key_ref)
        self.resolutions += 1
        if not key:
            raise AuthError(SYSTEM, f"secret reference {self._config.api_key_ref!r} resolved to an empty key")
        return key

    def key(self) -> str:
        with self._lock:
            if self._key is None:
                self._key = self._resolve()
            return self._key

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key()}", "Stripe-Version": self._config.api_version}

    def refresh(self, rejected: str) -> bool:
        """After a 401 with key `rejected`: re-read a referenced key; True when a different key is now in use
        (another thread may already have replaced it), so the call is worth one more try."""
        with self._lock:
            if self._key is not None and self._key != rejected:
                return True
            if self._config.api_key_ref is None:
                return False
            fresh = self._resolve()
            changed = fresh != rejected
            self._key = fresh
            return changed
