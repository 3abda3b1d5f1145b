"""What the security side adds to the app: secure headers, the CSRF guard, activated mapping versions."""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.security.csrf import CsrfGuard
from concord.security.headers import SecureHeadersMiddleware
from concord.security.proposals import apply_active
from concord.settings import Settings


def install_security(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecureHeadersMiddleware)
    # Without a configured key, a key per process: console forms opened before a restart must be reloaded.
    key = settings.csrf_secret.get_secret_value().encode() if settings.csrf_secret else secrets.token_bytes(32)
    app.state.csrf = CsrfGuard(key, secure_cookie=settings.tls_cert is not None)


def start_security(engine: Engine, runtime: Runtime) -> None:
    """At start-up, after migrations: mapping versions activated through approval replace configured ones."""
    with engine.connect() as conn:
        apply_active(conn, runtime)
