"""One scripted run per test module (the demo's 2,527 changes take a second or two to ingest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from concord.api.app import create_app
from concord.api.deps import AppContext
from concord.security.scopes import ALL_TENANTS
from concord.settings import Settings
from tests.console import scenario
from tests.security.support import bearer, key_for


@dataclass
class OpsRun:
    client: TestClient
    engine: Engine
    config: Path
    partner: scenario.Partner
    accepted: int
    failed_command: int


@pytest.fixture(scope="module")
def ops_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsRun]:
    tmp = tmp_path_factory.mktemp("ops")
    previous = os.environ.get(scenario.SECRET_ENV)
    os.environ[scenario.SECRET_ENV] = "test-secret"
    try:
        with scenario.partner_server() as partner:
            config = scenario.config_dir(tmp, partner.url)
            settings = Settings(database_url=f"sqlite:///{tmp / 'concord.db'}", sqlite_synchronous="NORMAL",
                                config_dir=config)
            with TestClient(create_app(settings)) as client:
                ctx: AppContext = client.app.state.concord  # type: ignore[attr-defined]
                client.headers.update(bearer(key_for(ctx.engine, tenant=ALL_TENANTS, name="operator")))
                accepted = scenario.ingest_demo(client)
                scenario.block_customer(client)
                failed = scenario.fail_one_command(ctx.engine)
                scenario.run_events(ctx.engine, config)
                yield OpsRun(client, ctx.engine, config, partner, accepted, failed)
    finally:
        if previous is None:
            os.environ.pop(scenario.SECRET_ENV, None)
        else:
            os.environ[scenario.SECRET_ENV] = previous
