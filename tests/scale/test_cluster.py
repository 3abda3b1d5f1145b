"""A 3-node JetStream cluster with 3-replica streams: Concord keeps flowing while one node is down, and the node
catches up when it returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord.hubconfig import Runtime
from concord.scale.bus import ChangeBus
from concord.storage.engine import make_engine
from tests.scale.cluster import NATS_SERVER, NatsCluster
from tests.scale.conftest import throwaway
from tests.scale.support import count, golden_state, order_violations, reference, thread_worker, wait_until, workload

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.slow]


@pytest.fixture
def cluster(tmp_path: Path) -> NatsCluster:
    if not Path(NATS_SERVER).exists():
        pytest.skip(f"{NATS_SERVER} is not installed")
    with NatsCluster(tmp_path / "nats") as c:
        yield c  # type: ignore[misc]


def test_workers_keep_flowing_through_a_node_loss_and_the_node_catches_up(
        cluster: NatsCluster, pg_url: str, runtime: Runtime) -> None:
    scale = throwaway(cluster.urls, replicas=3)
    changes = workload(3000, customers=300)
    publisher = ChangeBus(scale)
    publisher.ensure_stream()
    workers = [thread_worker(pg_url, runtime, scale, f"w{i}").start() for i in range(2)]
    engine = make_engine(pg_url)
    try:
        publisher.publish(changes[:1000])
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") >= 500, 30, "first changes")
        cluster.kill(1)
        publisher.publish(changes[1000:2000])
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") == 2000, 60,
                   "every change published while a node is down")
        assert not cluster.replicas_current(scale.stream)  # one replica is missing
        cluster.start(1)
        publisher.publish(changes[2000:])
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") == 3000, 60, "all 3000 changes")
        wait_until(lambda: cluster.replicas_current(scale.stream), 30, "the returning node to catch up")
    finally:
        for w in workers:
            w.halt()
        publisher.close()
    golden, _ = reference(runtime, changes)
    assert golden_state(engine) == golden
    assert order_violations(engine) == []
    engine.dispose()
