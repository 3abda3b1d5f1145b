"""Bad configuration stops `concord worker` at start-up with an error naming the setting, before any lease."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from concord.cli.main import build
from concord.scale.leases import LeaseManager
from concord.scale.runner import open_database
from tests.scale.cluster import free_port


class Result:
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = " ".join(stderr.split())  # rich wraps long lines


def run_worker(env: dict[str, str]) -> Result:
    result = CliRunner().invoke(build(), ["worker"], env=env)
    return Result(result.exit_code, result.stderr)


@pytest.mark.postgres
def test_unreachable_nats(pg_url: str) -> None:
    result = run_worker({"CONCORD_DATABASE_URL": pg_url,
                         "CONCORD_SCALE_NATS_URLS": f"nats://127.0.0.1:{free_port()}"})
    assert result.returncode == 2
    assert "cannot reach NATS at CONCORD_SCALE_NATS_URLS=nats://127.0.0.1:" in result.stderr


def test_wrong_database_url() -> None:
    result = run_worker({"CONCORD_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nope"})
    assert result.returncode == 2
    assert "cannot connect to the database at CONCORD_DATABASE_URL=postgresql+psycopg://postgres@" in result.stderr


def test_sqlite_is_refused() -> None:
    result = run_worker({"CONCORD_DATABASE_URL": "sqlite:///x.db"})
    assert result.returncode == 2
    assert "scale mode needs PostgreSQL" in result.stderr


@pytest.mark.postgres
def test_another_partition_count_than_the_database_holds(pg_url: str) -> None:
    engine = open_database(pg_url)
    LeaseManager(engine, "first", 64, 5.0).prepare()
    engine.dispose()
    result = run_worker({"CONCORD_DATABASE_URL": pg_url, "CONCORD_SCALE_PARTITIONS": "32"})
    assert result.returncode == 2
    assert "database was set up with 64 partitions" in result.stderr


def test_heartbeat_slower_than_half_the_lease_is_refused() -> None:
    result = run_worker({"CONCORD_SCALE_HEARTBEAT_S": "4", "CONCORD_SCALE_LEASE_TTL_S": "5"})
    assert result.returncode == 2
    assert "CONCORD_SCALE_HEARTBEAT_S" in result.stderr
