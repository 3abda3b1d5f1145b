"""Connector call latency over time: per-minute histograms in ops_series (additive bucket counts, like a
Prometheus histogram), turned into p50/p95/p99 at read time so flushes from many processes combine exactly."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, func, select

from concord.connectors.runtime.http import CallSample
from concord.observability import tables as ot
from concord.observability.logs import current_tenant
from concord.observability.metrics import LATENCY_BUCKETS
from concord.observability.projector import HOURLY, SeriesKey, add_series, minute, with_totals

PREFIX = "latency_le_"
QUANTILES = (0.5, 0.95, 0.99)
UPPER = (*LATENCY_BUCKETS, float("inf"))


def flush_calls(conn: Connection, samples: Sequence[CallSample], tenant: str = "", now: float | None = None,
                stamps: Sequence[float] | None = None, tenants: Sequence[str] | None = None) -> None:
    """Add call samples to the minute they were flushed in (or `stamps`, one per sample), under `tenant` (or
    `tenants`, one per sample: the tenant whose work made the call, so the dashboard's tenant filter applies)."""
    at = now if now is not None else time.time()
    counts: Counter[SeriesKey] = Counter()
    for i, sample in enumerate(samples):
        index = bisect_left(LATENCY_BUCKETS, sample.latency_s)
        bucket = minute(stamps[i] if stamps else at)
        counts[(bucket, tenants[i] if tenants else tenant, sample.system, f"{PREFIX}{index}")] += 1
    add_series(conn, with_totals(counts))


def quantile(counts: list[float], q: float) -> float | None:
    """The q-quantile from per-bucket counts, interpolated inside the bucket (upper bound for the last)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen = q * total, 0.0
    for i, n in enumerate(counts):
        if seen + n >= rank and n > 0:
            low = 0.0 if i == 0 else UPPER[i - 1]
            high = UPPER[i] if i < len(LATENCY_BUCKETS) else UPPER[i - 1]
            return low + (high - low) * (rank - seen) / n
        seen += n
    return UPPER[len(LATENCY_BUCKETS) - 1]


def percentiles(conn: Connection, since: float, tenant: str | None = None, system: str | None = None,
                step: int = 60) -> dict[str, dict[int, tuple[float | None, ...]]]:
    """system → {bucket of `step` seconds: (p50, p95, p99) in seconds}."""
    s = ot.ops_series.c
    rollup = HOURLY if step % 3600 == 0 else ""
    slot = (s.bucket - s.bucket % step).label("slot")
    query = (select(s.system, slot, s.metric, func.sum(s.value)).where(
        s.metric.like(f"{rollup}{PREFIX}%"), s.bucket >= max(minute(since), 1)).group_by(s.system, slot, s.metric))
    if tenant:
        query = query.where(s.tenant == tenant)
    if system:
        query = query.where(s.system == system)
    hist: dict[str, dict[int, list[float]]] = {}
    for sys_name, bucket, metric, value in conn.execute(query):
        row = hist.setdefault(sys_name, {}).setdefault(int(bucket), [0.0] * len(UPPER))
        row[int(metric.removeprefix(rollup).removeprefix(PREFIX))] += float(value)
    return {name: {b: tuple(quantile(c, q) for q in QUANTILES) for b, c in by_minute.items()}
            for name, by_minute in hist.items()}


class SeriesCallRecorder:
    """A `CallRecorder` for processes without a console (workers, the dispatcher, the CLI): it keeps samples
    and adds them to the shared per-minute histograms every `flush_every_s`, so the dashboard shows latency
    of calls made anywhere. `flush()` on shutdown writes the rest."""

    def __init__(self, engine: Engine, tenant: str = "", flush_every_s: float = 10.0) -> None:
        self.engine = engine
        self.tenant = tenant
        self.flush_every_s = flush_every_s
        self._pending: list[tuple[CallSample, float, str]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def record(self, sample: CallSample) -> None:
        # The tenant is read here, on the calling thread, where the step or delivery bound it.
        tenant = current_tenant() or self.tenant
        with self._lock:
            self._pending.append((sample, time.time(), tenant))
            due = time.monotonic() - self._last >= self.flush_every_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, []
            self._last = time.monotonic()
        if taken:
            with self.engine.begin() as conn:
                flush_calls(conn, [s for s, _, _ in taken], stamps=[at for _, at, _ in taken],
                            tenants=[t for _, _, t in taken])
