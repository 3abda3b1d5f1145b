"""bench/chaos: the issue's full-size chaos scenario — 3 `concord worker` processes on PostgreSQL and a 3-node NATS
JetStream cluster (R3 stream) apply CONCORD_BENCH_CHAOS_CHANGES changes (100,000 by default) while one worker is
SIGKILLed every 3 s (and replaced) and one NATS node is stopped and restarted; then the same changes run through a
single worker without chaos. The two databases must hold the same golden records and outbound commands, each
change exactly once, every customer's changes in order; takeovers of killed workers' partitions are timed.

`python -m bench chaos` (PYTHONPATH=. from the repository); needs PostgreSQL on 127.0.0.1:5432 and
/usr/sbin/nats-server. Exits non-zero when any check fails.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tests.scale.chaos import run_chaos
from tests.scale.cluster import NatsCluster
from tests.scale.support import command_state, count, golden_state, order_violations, workload

from bench.scale import fresh_database, wait_for, workers
from concord.scale.bus import ChangeBus
from concord.scale.runner import open_database
from concord.scale.settings import ScaleSettings

PARTITIONS = 64


def settings(urls: str) -> ScaleSettings:
    tag = uuid.uuid4().hex[:8]
    return ScaleSettings(nats_urls=urls, stream=f"CHAOS_{tag}", subject_prefix=f"chaos{tag}", replicas=3,
                         partitions=PARTITIONS, lease_ttl_s=3.0, heartbeat_s=0.5)


def outcome(url: str) -> dict[str, Any]:
    engine = open_database(url)
    try:
        return {"changes": count(engine, "SELECT count(*) FROM change_log"),
                "distinct": count(engine, "SELECT count(DISTINCT idempotency_key) FROM change_log"),
                "order": order_violations(engine), "golden": golden_state(engine), "commands": command_state(engine)}
    finally:
        engine.dispose()


def single_worker(cluster: NatsCluster, changes: list[Any]) -> tuple[dict[str, Any], float]:
    scale = settings(cluster.urls)
    bus = ChangeBus(scale)
    bus.ensure_stream()
    try:
        with fresh_database() as url:
            engine = open_database(url)
            with workers(1, url, scale):
                started = time.perf_counter()
                for i in range(0, len(changes), 1000):
                    bus.publish(changes[i:i + 1000])
                wait_for(engine, len(changes), timeout_s=3600)
                seconds = time.perf_counter() - started
            engine.dispose()
            return outcome(url), seconds
    finally:
        bus.delete_stream()
        bus.close()


def main() -> None:
    size = int(os.environ.get("CONCORD_BENCH_CHAOS_CHANGES", "100000"))
    changes = workload(size, customers=max(size // 10, 10), prefix="chaos")
    with tempfile.TemporaryDirectory() as tmp, NatsCluster(Path(tmp) / "nats") as cluster:
        with fresh_database() as url:
            run = run_chaos(cluster, url, settings(cluster.urls), changes, Path(tmp))
            chaotic = outcome(url)
        single, single_s = single_worker(cluster, changes)
    checks = {
        "every change committed once (chaos)": chaotic["changes"] == chaotic["distinct"] == size,
        "every change committed once (single worker)": single["changes"] == single["distinct"] == size,
        "per-customer order kept (chaos)": chaotic["order"] == [],
        "golden records equal the single-worker run": chaotic["golden"] == single["golden"],
        "outbound commands equal the single-worker run": chaotic["commands"] == single["commands"],
        "every takeover within 10 s": bool(run.takeovers) and max(run.takeovers) <= 10.0,
        "no worker died except by SIGKILL": run.crashed == [],
    }
    table = Table("check", "result", title=f"bench/chaos — {size:,} changes, {PARTITIONS} partitions, R3 stream on "
                                           "a 3-node NATS cluster, 2 shared cores")
    for name, ok in checks.items():
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAILED[/]")
    console = Console(width=150)
    console.print(table)
    takeovers = sorted(run.takeovers)
    console.print(f"chaos run: {run.seconds:.0f} s ({size / run.seconds:,.0f} changes/s), {run.started} worker "
                  f"processes started, {len(takeovers)} SIGKILLs; takeover max {max(takeovers, default=0):.1f} s, "
                  f"median {statistics.median(takeovers) if takeovers else 0:.1f} s; lost "
                  f"{size - chaotic['distinct']}, duplicates {chaotic['changes'] - chaotic['distinct']}, "
                  f"golden records {len(chaotic['golden']):,}, customers with commands {len(chaotic['commands']):,}")
    console.print(f"single worker, no chaos: {single_s:.0f} s ({size / single_s:,.0f} changes/s)")
    if not all(checks.values()):
        raise SystemExit("chaos checks failed")


if __name__ == "__main__":
    main()
