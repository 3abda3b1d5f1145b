"""Bad configuration stops `concord worker` at start-up with an error naming the setting, before any lease."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from concord.cli.main import build
from concord.hubconfig import Runtime
from concord.scale.leases import LeaseManager
from concord.scale.runner import open_database
from concord.scale.settings import ScaleSettings
from tests.scale.cluster import free_port
from tests.scale.support import thread_worker, wait_until


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


@pytest.mark.postgres
def test_serve_in_scale_mode_with_unreachable_nats(pg_url: str) -> None:
    result = CliRunner().invoke(build(), ["serve"], env={
        "CONCORD_DATABASE_URL": pg_url, "CONCORD_SCALE": "true", "CONCORD_AUTH": "disabled",
        "CONCORD_SCALE_NATS_URLS": f"nats://127.0.0.1:{free_port()}"})
    assert result.exit_code == 2
    assert "cannot reach NATS at CONCORD_SCALE_NATS_URLS=nats://127.0.0.1:" in " ".join(result.stderr.split())


@pytest.mark.postgres
@pytest.mark.nats
def test_a_partition_count_changed_while_running_stops_a_running_worker(pg_url: str, scale: ScaleSettings,
                                                                        runtime: Runtime) -> None:
    worker = thread_worker(pg_url, runtime, scale, "w0").start()
    try:
        wait_until(lambda: len(worker.worker.leases.held_now()) == scale.partitions, 10, "the worker to hold all")
        engine = open_database(pg_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE scale_settings SET value = '128' WHERE name = 'partitions'"))
        wait_until(lambda: worker.thread is not None and not worker.thread.is_alive(), 10, "the worker to stop")
    finally:
        worker.halt()
    assert [type(e).__name__ for e in worker.error] == ["ScaleConfigError"]
    assert "partition count mismatch: the database was set up with 128 partitions" in str(worker.error[0])
    with engine.connect() as conn:  # it committed nothing more and gave its leases back on the way out
        assert conn.execute(text("SELECT count(owner) FROM scale_leases")).scalar() == 0
    engine.dispose()
