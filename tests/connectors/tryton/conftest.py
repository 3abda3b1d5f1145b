"""A real trytond for the Tryton connector tests: one server per session, reset to the template per module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from concord.connectors.tryton import TrytonConnector
from concord.sandbox.tryton import TrytonServer
from tests.connectors.tryton.support import connector_config, require_trytond, server_settings


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


@pytest.fixture
def connector(tryton_server: TrytonServer) -> Iterator[TrytonConnector]:
    conn = TrytonConnector(connector_config(tryton_server))
    yield conn
    conn.close()
