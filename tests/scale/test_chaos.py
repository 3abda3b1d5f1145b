"""Acceptance: 3 `concord worker` processes, one SIGKILLed every few seconds (and replaced), one NATS node stopped
and restarted, while changes flow; the result equals the single-process run, nothing lost, nothing applied twice,
every customer's changes in order, and a killed worker's partitions move within 10 s.

The suite runs CONCORD_CHAOS_CHANGES changes (5,000 by default); `python -m bench chaos` runs the full-size
version (100,000 changes) and compares it with a single-worker run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from concord.hubconfig import Runtime
from concord.scale.runner import open_database
from tests.scale.chaos import run_chaos
from tests.scale.cluster import NATS_SERVER, NatsCluster
from tests.scale.conftest import throwaway
from tests.scale.support import command_state, count, golden_state, order_violations, reference, workload

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.slow]
CHANGES = int(os.environ.get("CONCORD_CHAOS_CHANGES", "5000"))


@pytest.fixture
def cluster(tmp_path: Path) -> NatsCluster:
    if not Path(NATS_SERVER).exists():
        pytest.skip(f"{NATS_SERVER} is not installed")
    with NatsCluster(tmp_path / "nats") as c:
        yield c  # type: ignore[misc]


def test_chaos(cluster: NatsCluster, pg_url: str, runtime: Runtime, tmp_path: Path) -> None:
    scale = throwaway(cluster.urls, replicas=3, partitions=16, lease_ttl_s=3.0, heartbeat_s=0.5)
    changes = workload(CHANGES, customers=max(CHANGES // 10, 10), prefix="chaos")
    run = run_chaos(cluster, pg_url, scale, changes, tmp_path)
    print(f"chaos: {CHANGES} changes, {run.started} worker processes started, takeovers (s): "
          f"{[round(t, 1) for t in run.takeovers]}, crashed: {run.crashed}")
    golden, commands = reference(runtime, changes)
    engine = open_database(pg_url)
    assert count(engine, "SELECT count(*) FROM change_log") == CHANGES  # none lost, none twice
    assert count(engine, "SELECT count(DISTINCT idempotency_key) FROM change_log") == CHANGES
    assert order_violations(engine) == []
    assert golden_state(engine) == golden
    assert command_state(engine) == commands
    assert run.crashed == []  # no worker died of anything but the SIGKILLs
    assert run.started >= 6  # the chaos really happened: at least three kills, and the NATS node round trip
    assert max(run.takeovers) <= 10.0, run.takeovers
    engine.dispose()
