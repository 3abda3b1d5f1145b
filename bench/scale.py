"""bench/scale: end-to-end changes/s of scale mode (bus → `concord worker` processes → PostgreSQL) with 1 and 2
workers, the single-process embedded ingest on the same PostgreSQL as the peer, and the commit lag at a paced
2,000 changes/s with 2 workers.

Every run gets a fresh database and stream. Throughput: the workers are up and hold their partitions, then the
whole workload is published at once and the clock runs until the last change is committed. Lag: changes are
published at a fixed rate with `source_ts` = publish time; lag = commit-side `received_at` - `source_ts`.
`python -m bench scale` (CONCORD_BENCH_SCALE_CHANGES=20000 by default); needs PostgreSQL on 127.0.0.1:5432
and NATS on 127.0.0.1:4222.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text

from bench.ingest import workload
from concord.hubconfig import load_runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.scale.bus import ChangeBus
from concord.scale.runner import open_database
from concord.scale.settings import ScaleSettings

PG_ADMIN = os.environ.get("CONCORD_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NATS = os.environ.get("CONCORD_BENCH_NATS_URL", "nats://127.0.0.1:4222")
PARTITIONS = 64
LAG_RATE = 2000
LAG_SECONDS = 10


@dataclass
class Row:
    label: str
    changes: int
    seconds: float
    lag_ms: list[float] | None = None

    @property
    def rate(self) -> float:
        return self.changes / self.seconds


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"concord_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def committed(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM change_log")).scalar_one())


def wait_for(engine: Engine, total: int, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while committed(engine) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {committed(engine)} of {total} changes committed after {timeout_s}s")
        time.sleep(0.05)


def embedded(changes: list[ChangeCreate]) -> Row:
    with fresh_database() as url:
        engine = open_database(url)
        service = IngestService(engine, load_runtime(None), max_batch=1000)
        service.start()
        started = time.perf_counter()
        futures = [service.submit(changes[i:i + 100]) for i in range(0, len(changes), 100)]
        for future in futures:
            future.result()
        seconds = time.perf_counter() - started
        service.stop()
        engine.dispose()
    return Row("single process, embedded ingest (PostgreSQL)", len(changes), seconds)


@contextmanager
def workers(count: int, url: str, scale: ScaleSettings) -> Iterator[None]:
    env = {**os.environ, "CONCORD_DATABASE_URL": url, "CONCORD_SCALE_NATS_URLS": scale.nats_urls,
           "CONCORD_SCALE_STREAM": scale.stream, "CONCORD_SCALE_SUBJECT_PREFIX": scale.subject_prefix,
           "CONCORD_SCALE_PARTITIONS": str(scale.partitions), "CONCORD_LOG_LEVEL": "warning"}
    procs = [subprocess.Popen([sys.executable, "-m", "concord", "worker"], env=env) for _ in range(count)]
    engine = open_database(url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until every partition is leased (the workers are ready)
            with engine.connect() as conn:
                owners = conn.execute(text("SELECT count(DISTINCT owner), count(owner) FROM scale_leases")).one()
            if owners[0] == count and owners[1] == scale.partitions:
                break
            time.sleep(0.2)
        yield
    finally:
        engine.dispose()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def scale_settings() -> ScaleSettings:
    tag = uuid.uuid4().hex[:8]
    return ScaleSettings(nats_urls=NATS, stream=f"BENCH_{tag}", subject_prefix=f"bench{tag}", partitions=PARTITIONS)


PUBLISHED: list[Row] = []  # the publish side of each throughput run: the bus ceiling measured in passing


def throughput(count: int, changes: list[ChangeCreate]) -> Row:
    scale = scale_settings()
    bus = ChangeBus(scale)
    bus.ensure_stream()
    try:
        with fresh_database() as url:
            engine = open_database(url)
            with workers(count, url, scale):
                started = time.perf_counter()
                for i in range(0, len(changes), 1000):
                    bus.publish(changes[i:i + 1000])
                PUBLISHED.append(Row(f"bus publish, acked (while {count} worker(s) consume)", len(changes),
                                     time.perf_counter() - started))
                wait_for(engine, len(changes))
                seconds = time.perf_counter() - started
            engine.dispose()
    finally:
        bus.delete_stream()
        bus.close()
    return Row(f"scale mode, {count} worker{'s' if count > 1 else ''} (bus + PostgreSQL)", len(changes), seconds)


def paced_lag(count: int) -> Row:
    """Publish LAG_RATE changes/s for LAG_SECONDS with source_ts = now; lag = received_at - source_ts."""
    scale = scale_settings()
    bus = ChangeBus(scale)
    bus.ensure_stream()
    total = LAG_RATE * LAG_SECONDS
    try:
        with fresh_database() as url:
            engine = open_database(url)
            with workers(count, url, scale):
                started = time.perf_counter()
                tick = 0.05
                for n in range(int(LAG_SECONDS / tick)):
                    now = datetime.now(UTC)
                    per = int(LAG_RATE * tick)
                    bus.publish([c.model_copy(update={"source_ts": now}) for c in lag_changes(n * per, per)])
                    time.sleep(max(0.0, started + (n + 1) * tick - time.perf_counter()))
                wait_for(engine, total)
                seconds = time.perf_counter() - started
                with engine.connect() as conn:
                    lags = [float(r[0]) * 1000 for r in conn.execute(text(
                        "SELECT received_at - source_ts_us / 1e6 FROM change_log"))]
            engine.dispose()
    finally:
        bus.delete_stream()
        bus.close()
    return Row(f"scale mode, {count} workers, paced {LAG_RATE:,}/s", total, seconds, lags)


def lag_changes(start: int, count: int) -> list[ChangeCreate]:
    return [ChangeCreate(system="salesforce", entity="account", external_id=f"lag-{i % 5000}",
                         fields={"Name": f"Customer {i % 5000}", "NumberOfEmployees": i},
                         source_ts=datetime.now(UTC), idempotency_key=f"lag-{i}", canonical_id=f"lag-{i % 5000}")
            for i in range(start, start + count)]


def main() -> None:
    size = int(os.environ.get("CONCORD_BENCH_SCALE_CHANGES", "20000"))
    changes = workload(size, customers=size // 4)
    rows = [embedded(changes), throughput(1, changes), throughput(2, changes), paced_lag(2)]
    rows += PUBLISHED
    table = Table("scenario", "changes", "seconds", "changes/s", "lag p50 ms", "lag p99 ms",
                  title=f"bench/scale — {PARTITIONS} partitions, 2 cores shared with PostgreSQL, NATS and the "
                        "publisher (and other work on this machine)")
    for row in rows:
        lag = row.lag_ms or []
        p50 = f"{statistics.median(lag):.0f}" if lag else ""
        p99 = f"{statistics.quantiles(lag, n=100)[98]:.0f}" if len(lag) > 100 else ""
        table.add_row(row.label, f"{row.changes:,}", f"{row.seconds:.2f}", f"{row.rate:,.0f}", p50, p99)
    console = Console(width=150)
    console.print(table)
    console.print(f"2 workers / 1 worker: {rows[2].rate / rows[1].rate:.2f}x (target ≥ 1.7x); "
                  f"1 worker / single-process embedded: {rows[1].rate / rows[0].rate:.0%}")


if __name__ == "__main__":
    main()
