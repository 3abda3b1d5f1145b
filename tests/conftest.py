"""Shared fixtures: a migrated database on SQLite and (marked `postgres`) on PostgreSQL, and the runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from concord.hubconfig import Runtime, load_runtime
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine, upgrade
from tests.services import fresh_postgres_database, in_ci

# CI replays the same examples every run (a red build must be reproducible); local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if in_ci() else "dev")


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return load_runtime(None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on both databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'concord.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url, sqlite_synchronous="NORMAL")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def ingest(engine: Engine, runtime: Runtime) -> Iterator[IngestService]:
    service = IngestService(engine, runtime)
    service.start()
    yield service
    service.stop()
