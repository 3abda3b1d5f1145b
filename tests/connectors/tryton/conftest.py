"""A real trytond for the Tryton connector tests: one server per session, reset to the template per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from concord.connectors.tryton import TrytonConfig, TrytonConnector
from concord.sandbox.tryton import TrytonServer, TrytonServerSettings, trytond_available
from tests.services import in_ci


def require_trytond() -> None:
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


@dataclass
class SharedServer:
    server: TrytonServer
    modules_served: int = 0


@pytest.fixture(scope="session")
def tryton_shared() -> Iterator[SharedServer]:
    require_trytond()
    with TrytonServer(server_settings()) as server:
        yield SharedServer(server)


@pytest.fixture(scope="module")
def tryton_server(tryton_shared: SharedServer) -> TrytonServer:
    """The session's server holding the template's content: every module after the first resets it."""
    if tryton_shared.modules_served:
        tryton_shared.server.reset()
    tryton_shared.modules_served += 1
    return tryton_shared.server


def connector_config(server: TrytonServer, company: int = 0, page_size: int = 100) -> TrytonConfig:
    return TrytonConfig(
        url=server.url,
        database=server.db,
        user=server.admin_login,
        password=server.admin_password,
        company_id=server.meta.companies[company].id,
        page_size=page_size,
    )


@pytest.fixture
def connector(tryton_server: TrytonServer) -> Iterator[TrytonConnector]:
    conn = TrytonConnector(connector_config(tryton_server))
    yield conn
    conn.close()
