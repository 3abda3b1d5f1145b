"""Helpers shared by the Tryton tests (connector and sandbox): availability, settings, connector config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from concord.connectors.tryton import TrytonConfig
from concord.sandbox.tryton import TrytonServer, TrytonServerSettings, trytond_available
from tests.services import in_ci


def require_trytond() -> None:
    """Skip when trytond is missing, naming it; with CI=true fail instead, since CI must run these."""
    if trytond_available():
        return
    message = "trytond (and proteus) are not installed: pip install -e '.[erp]'"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the Tryton tests must run, never skip)")
    pytest.skip(message)


def server_settings(**overrides: object) -> TrytonServerSettings:
    """Default settings; CONCORD_TRYTON_CACHE moves the template cache (default ~/.cache/concord/tryton)."""
    values: dict[str, object] = dict(overrides)
    if cache := os.environ.get("CONCORD_TRYTON_CACHE"):
        values.setdefault("cache_dir", Path(cache))
    return TrytonServerSettings.model_validate(values)


def connector_config(
    server: TrytonServer, company: int = 0, page_size: int = 100, batch_size: int = 100
) -> TrytonConfig:
    return TrytonConfig(
        url=server.url,
        database=server.db,
        user=server.admin_login,
        password=server.admin_password,
        company_id=server.meta.companies[company].id,
        page_size=page_size,
        batch_size=batch_size,
    )
