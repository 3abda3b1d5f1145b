"""Tryton session login and the per-call context.

Tryton's JSON-RPC login (`common.db.login`) answers `[uid, token, bus_url]`; later calls carry
`Authorization: Session base64("login:uid:token")`. Sessions expire after `[session] timeout` of idleness
(300 s by default) or when the database is restored, and the server then answers 401: the client logs in
again once. The user's preferences (`model.res.user.get_preferences`) are the context the Tryton clients
send with every call; we merge `{"company": id}` over them so company-dependent fields hit the right company.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from concord.connectors.base import AuthError
from concord.connectors.tryton.config import SYSTEM, TrytonConfig

if TYPE_CHECKING:
    from concord.connectors.tryton.client import RpcIn, RpcOut

SecretResolver = Callable[[str], str]


class RawCaller(Protocol):
    """One JSON-RPC round trip without session handling (the client implements it)."""

    def raw_call(
        self, method: str, params: list[RpcIn], headers: Mapping[str, str], *, write: bool
    ) -> RpcOut: ...


def resolve_secret(reference: str) -> str:
    """Built-in secret references: `env:NAME` and `file:/path`. Other schemes need an injected resolver."""
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if value is None:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: environment variable is not set")
        return value
    if scheme == "file":
        try:
            return Path(target).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthError(SYSTEM, f"secret reference {reference!r}: {exc.strerror}") from exc
    raise AuthError(SYSTEM, f"secret reference scheme {scheme!r} needs a resolver")


@dataclass(frozen=True)
class TrytonSession:
    login: str
    uid: int
    token: str

    def header(self) -> str:
        raw = f"{self.login}:{self.uid}:{self.token}".encode()
        return "Session " + base64.b64encode(raw).decode("ascii")


class TrytonAuth:
    """Holds the session and the preferences context; logs in lazily and again after a 401."""

    def __init__(self, config: TrytonConfig, resolver: SecretResolver | None = None) -> None:
        self._config = config
        self._resolver = resolver or resolve_secret
        self._session: TrytonSession | None = None
        self._preferences: dict[str, RpcOut] = {}
        self._lock = threading.Lock()
        self.logins = 0  # how many times we logged in; a steadily rising count means sessions keep dying

    @property
    def session(self) -> TrytonSession | None:
        return self._session

    def _password(self) -> str:
        if self._config.password is not None:
            return self._config.password.get_secret_value()
        assert self._config.password_ref is not None  # the config validator guarantees one of the two
        return self._resolver(self._config.password_ref)

    def ensure(self, caller: RawCaller) -> TrytonSession:
        with self._lock:
            if self._session is None:
                self._session = self._login(caller)
            return self._session

    def relogin(self, caller: RawCaller, stale: TrytonSession | None) -> TrytonSession:
        """Log in again unless another thread already replaced the stale session."""
        with self._lock:
            if self._session is None or self._session == stale:
                self._session = self._login(caller)
            return self._session

    def invalidate(self) -> None:
        with self._lock:
            self._session = None

    def _login(self, caller: RawCaller) -> TrytonSession:
        params: list[RpcIn] = [self._config.user, {"password": self._password()}, self._config.language]
        result = caller.raw_call("common.db.login", params, {}, write=False)
        if not (isinstance(result, list) and len(result) >= 2 and isinstance(result[0], int)):
            raise AuthError(SYSTEM, f"login of {self._config.user!r} was refused")
        session = TrytonSession(self._config.user, result[0], str(result[1]))
        headers = {"Authorization": session.header()}
        preferences = caller.raw_call("model.res.user.get_preferences", [True, {}], headers, write=False)
        if not isinstance(preferences, dict):
            raise AuthError(SYSTEM, "get_preferences did not return a context")
        self._preferences = preferences
        self.logins += 1
        return session

    def context(self, extra: Mapping[str, RpcIn] | None = None) -> dict[str, RpcIn]:
        """The user's preferences with the configured company, then `extra` (e.g. another company)."""
        merged: dict[str, RpcIn] = dict(self._preferences)
        merged["company"] = self._config.company_id
        merged.update(extra or {})
        return merged

    def headers(self, session: TrytonSession) -> dict[str, str]:
        return {"Authorization": session.header()}
