"""What the security side adds to the app: secure headers, the CSRF guard, activated mapping versions."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import typer
from fastapi import FastAPI
from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.security.csrf import CsrfGuard
from concord.security.headers import SecureHeadersMiddleware
from concord.security.ownership_changes import sync as sync_ownership
from concord.security.proposals import apply_active
from concord.settings import Settings

log = logging.getLogger(__name__)


def install_security(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecureHeadersMiddleware)
    # Without a configured key, a key per process: console forms opened before a restart must be reloaded.
    key = settings.csrf_secret.get_secret_value().encode() if settings.csrf_secret else secrets.token_bytes(32)
    app.state.csrf = CsrfGuard(key, secure_cookie=settings.tls_cert is not None)


def start_security(engine: Engine, runtime: Runtime) -> None:
    """At start-up, after migrations: mapping and ownership versions activated through approval replace the
    configured ones."""
    with engine.connect() as conn:
        apply_active(conn, runtime)
        sync_ownership(conn, runtime, interval=0.0)


def serving_checks(settings: Settings, tls_cert: Path | None, tls_key: Path | None) -> Settings:
    """Settings for `concord serve`: TLS files from the flags (or CONCORD_TLS_*), both or neither, readable."""
    cert, key = tls_cert or settings.tls_cert, tls_key or settings.tls_key
    if (cert is None) != (key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key, or neither")
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{flag}: {path} is not a readable file")
    if settings.auth == "disabled":
        log.warning("CONCORD_AUTH=disabled: every caller is the local admin; never do this outside a laptop")
    return settings.model_copy(update={"tls_cert": cert, "tls_key": key})
