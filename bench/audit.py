"""bench/audit: what sealing ingest batches into the audit chain costs — the same ingest run with the seal
switched off (peer) and on, alternating on the same data, plus the cost of one seal of a 512-change batch."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

from rich.console import Console
from rich.table import Table

from bench.ingest import Result, run, workload
from concord.ingest import pipeline as ingest_pipeline
from concord.ingest import service as ingest_service
from concord.security import sealing
from concord.storage.engine import make_engine, upgrade
from concord.storage.repository import CHANGE_LOG_COLUMNS
from concord.tuning import tune_gc_for_throughput


@contextmanager
def sealing_off() -> Iterator[None]:
    """No seal on either ingest path: the serial one seals through `seal_batch`, the pipelined writer computes
    `seals` beside the previous commit (decision 083) — patching only the first left the peer sealed."""
    with patch.object(ingest_service, "seal_batch", lambda conn, changes: None), \
            patch.object(ingest_pipeline, "seals", lambda changes: []):
        yield


def seal_cost_ms(tmp: Path, rounds: int = 50) -> float:
    """Milliseconds to seal one batch of 512 changes (digest + chained insert), in its own transaction."""
    engine = make_engine(f"sqlite:///{tmp / 'seal.db'}")
    upgrade(engine)
    rows = [{"change_id": f"c{i:08d}", "tenant": "default", "idempotency_key": f"i{i}", "correlation_id": f"k{i}",
             "system": "salesforce", "entity": "account", "external_id": f"sf-{i}", "canonical_id": f"cus-{i}",
             "source_ts_us": i, "received_at": 0.0, "mapping_version": "salesforce/account@1", "status": "applied",
             "rejected": 0, "pending": 0, "payload": f'{{"Name": "Customer {i}", "NumberOfEmployees": 42}}',
             "decision": '{"status": "applied", "applied": ["name", "employee_count"]}'} for i in range(512)]
    batch = [tuple(row[c] for c in CHANGE_LOG_COLUMNS) for row in rows]  # as the ingest writer builds them
    timings = []
    for _ in range(rounds):
        with engine.begin() as conn:
            start = time.perf_counter()
            sealing.seal_batch(conn, batch)
            timings.append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return statistics.median(timings)


def main() -> None:
    tune_gc_for_throughput()
    count = int(os.environ.get("BENCH_AUDIT_CHANGES", "10000"))
    changes = workload(count, customers=2000)
    results: dict[str, list[Result]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(2):
            with sealing_off():
                results["off"].append(run("seal off", f"sqlite:///{Path(tmp) / f'off{round_}.db'}", changes, 512, 64))
            results["on"].append(run("seal on", f"sqlite:///{Path(tmp) / f'on{round_}.db'}", changes, 512, 64))
        seal_ms = seal_cost_ms(Path(tmp))
    table = Table("ingest (SQLite, group commit, 64 in flight)", "changes/s", "ack p50 ms", "ack p99 ms",
                  title="bench/audit — audit seal per committed batch, off (peer) vs on, alternating runs")
    for label, runs in (("without the audit seal (peer)", results["off"]), ("with the audit seal", results["on"])):
        rate = statistics.mean(r.rate for r in runs)
        table.add_row(label, f"{rate:,.0f}", f"{statistics.mean(r.pct(50) for r in runs):.1f}",
                      f"{statistics.mean(r.pct(99) for r in runs):.1f}")
    console = Console()
    console.print(table)
    off, on = (statistics.mean(r.rate for r in results[k]) for k in ("off", "on"))
    console.print(f"seal on / off throughput: {on / off:.2f}; one seal of a 512-change batch: {seal_ms:.2f} ms")


if __name__ == "__main__":
    main()
