"""bench/events_latency: only the paced 2,000 events/s latency rows of bench/events, repeated, with the load
average — the quick loop for the NATS p99 target (docs/decisions/075). Each round runs the embedded log (peer)
and NATS JetStream back to back, alternating which goes first, so both see the same machine.

`python -m bench events_latency` (CONCORD_BENCH_ROUNDS, default 3; CONCORD_BENCH_EVENTS, default 10,000).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.events import Row, Target, pipeline
from concord.events.embedded import EmbeddedLog
from concord.storage.engine import make_engine, upgrade

RATE = 2000.0


def embedded_row(tmp: Path, count: int) -> Row:
    url = f"sqlite:///{tmp / uuid.uuid4().hex}.db"
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(engine)
    try:
        return pipeline("embedded (SQLite) at 2,000/s", Target("embedded", url),
                        EmbeddedLog(engine, poll_s=0.001, commit_interval_s=0.2), count, RATE)
    finally:
        engine.dispose()


def nats_row(tmp: Path, count: int) -> Row:
    tag = uuid.uuid4().hex[:8]
    target = Target("nats", f"sqlite:///{tmp / tag}.db", f"BENCH_{tag}", f"bench{tag}")
    log = target.open()
    try:
        return pipeline("NATS at 2,000/s", target, log, count, RATE)
    finally:
        log.delete_stream()  # type: ignore[attr-defined]
        log.close()


def percentiles(row: Row) -> tuple[float, float]:
    lat = row.latencies_ms or [0.0, 0.0]
    return statistics.median(lat), statistics.quantiles(lat, n=100)[98]


def main() -> None:
    rounds = int(os.environ.get("CONCORD_BENCH_ROUNDS", "3"))
    count = int(os.environ.get("CONCORD_BENCH_EVENTS", "10000"))
    table = Table("round", "scenario", "events", "p50 ms", "p99 ms", "load (1 min)",
                  title=f"bench/events_latency — 1 KB events at 2,000/s, {count:,} per run, target p99 ≤ 10 ms")
    p99s: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(rounds):
            runs = (nats_row, embedded_row) if n % 2 == 0 else (embedded_row, nats_row)
            for run in runs:
                row = run(Path(tmp), count)
                p50, p99 = percentiles(row)
                p99s.setdefault(row.label, []).append(p99)
                table.add_row(str(n + 1), row.label, str(row.events), f"{p50:.2f}", f"{p99:.2f}",
                              f"{os.getloadavg()[0]:.2f}")
    console = Console(width=150)
    console.print(table)
    for label, values in p99s.items():
        console.print(f"{label}: p99 median of {len(values)} runs {statistics.median(values):.2f} ms")
