"""Prometheus metrics on an explicitly built registry (never the process-global one).

Two kinds of figures. Counts that live in the database (changes, failed syncs, replays, dead letters, lag,
approvals, open tasks) are read by `DatabaseCollector` at scrape time, so `/metrics` always equals the
database — there is no second counter that could drift after a restart or in another worker. Figures that
exist only in a process (connector call latency, API latency, rate-limit headroom) are recorded live.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import CallSample
from concord.ingest.admission import WaitingCount
from concord.observability import figures
from concord.observability.logs import UNKNOWN_TENANT, current_tenant
from concord.observability.workflow_metrics import WorkflowCollector

# Every family carries a `tenant` label (issue #8): HUB_WIDE for figures that span tenants by nature (event
# subscriptions, replays, the embedded log), UNKNOWN_TENANT where a figure has no tenant in its context.
HUB_WIDE = "*"
SAMPLE_MEMORY = 50_000  # call samples kept for the dashboard's percentiles between two flushes
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DatabaseCollector(Collector):
    """Reads the durable counts at scrape time. `engine_of` is called per scrape (the app builds its engine
    at start-up, after the registry); `catch_up` brings the projected totals up to date first."""

    def __init__(self, engine_of: Callable[[], Engine | None], catch_up: Callable[[Engine], object]) -> None:
        self._engine_of = engine_of
        self._catch_up = catch_up

    def describe(self) -> Iterable[Metric]:
        return []  # no describe-time query: registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        engine = self._engine_of()
        if engine is None:
            return
        self._catch_up(engine)
        with engine.connect() as conn:
            snap = figures.snapshot(conn)
        yield from _families(snap)


def _families(snap: figures.Snapshot) -> Iterator[Metric]:
    changes = CounterMetricFamily("concord_changes", "Changes recorded in the change log",
                                  labels=["tenant", "system", "operation", "outcome"])
    for (tenant, system, entity, status), n in sorted(snap.changes.items()):
        changes.add_metric([tenant, system, entity, status], n)
    yield changes
    rejected = CounterMetricFamily("concord_rejected_fields", "Field writes refused by the ownership gate",
                                   labels=["tenant", "system"])
    for (tenant, system), n in sorted(snap.rejected_fields.items()):
        rejected.add_metric([tenant, system], n)
    yield rejected
    quality = GaugeMetricFamily("concord_data_quality_exceptions", "Changes with refused fields or awaiting a "
                                "steward", labels=["tenant", "system", "outcome"])
    for (tenant, system, outcome), n in sorted(snap.quality.items()):
        quality.add_metric([tenant, system, outcome], n)
    yield quality
    syncs = CounterMetricFamily("concord_sync_commands", "Outbound commands by outcome",
                                labels=["tenant", "system", "operation", "outcome"])
    for (tenant, system, op, outcome), n in sorted(snap.commands.items()):
        syncs.add_metric([tenant, system, op, outcome], n)
    yield syncs
    failed = CounterMetricFamily("concord_failed_syncs", "Outbound commands that failed for good",
                                 labels=["tenant", "system"])
    for (tenant, system), n in sorted(snap.failed_syncs.items()):
        failed.add_metric([tenant, system], n)
    yield failed
    yield from _event_families(snap)


def _event_families(snap: figures.Snapshot) -> Iterator[Metric]:
    events = CounterMetricFamily("concord_events", "Lifecycle events written to the outbox",
                                 labels=["tenant", "operation"])
    for (tenant, kind), n in sorted(snap.events.items()):
        events.add_metric([tenant, kind], n)
    yield events
    dups = CounterMetricFamily("concord_duplicates_detected", "DuplicateDetected events", labels=["tenant"])
    for tenant, n in sorted(snap.duplicates.items()):
        dups.add_metric([tenant], n)
    yield dups
    # Subscriptions are hub-wide: one consumer reads every tenant's events.
    replays = CounterMetricFamily("concord_replays", "Replays started", labels=["tenant", "subscription"])
    replayed = CounterMetricFamily("concord_replayed_events", "Events delivered again by replays",
                                   labels=["tenant", "subscription"])
    for sub, (runs, delivered) in sorted(snap.replays.items()):
        replays.add_metric([HUB_WIDE, sub], runs)
        replayed.add_metric([HUB_WIDE, sub], delivered)
    yield replays
    yield replayed
    dead = GaugeMetricFamily("concord_dead_letters", "Dead letters by status",
                             labels=["tenant", "subscription", "outcome"])
    for (sub, status), n in sorted(snap.dead_letters.items()):
        dead.add_metric([HUB_WIDE, sub, status], n)
    yield dead
    lag = GaugeMetricFamily("concord_event_lag", "Events in the embedded log not yet consumed",
                            labels=["tenant", "subscription"])
    for sub, n in sorted(snap.lag.items()):
        lag.add_metric([HUB_WIDE, sub], n)
    yield lag
    tasks = GaugeMetricFamily("concord_open_tasks", "Open exception tasks", labels=["tenant", "operation"])
    for (tenant, kind), n in sorted(snap.open_tasks.items()):
        tasks.add_metric([tenant, kind], n)
    yield tasks


class HeadroomCollector(Collector):
    """Rate-limit headroom and daily quota of every governor key registered with `watch`."""

    def __init__(self) -> None:
        self._watched: dict[tuple[int, RateKey], GovernedKey] = {}
        self._lock = threading.Lock()

    def watch(self, governor: RateGovernor, key: RateKey) -> None:
        """Idempotent: a key watched twice (a connector rebuilt, two processes' wiring) is exported once."""
        with self._lock:
            self._watched[(id(governor), key)] = GovernedKey(governor, key)

    def watch_all(self, keys: Iterable[GovernedKey]) -> None:
        for governed in keys:
            self.watch(governed.governor, governed.key)

    def watched(self) -> list[GovernedKey]:
        with self._lock:
            return list(self._watched.values())

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        labels = ["tenant", "system", "credential"]
        tokens = GaugeMetricFamily("concord_rate_limit_headroom", "Tokens left in the rate bucket", labels=labels)
        capacity = GaugeMetricFamily("concord_rate_limit_capacity", "Rate bucket size", labels=labels)
        daily = GaugeMetricFamily("concord_daily_quota_remaining", "Calls left today", labels=labels)
        limit = GaugeMetricFamily("concord_daily_quota_limit", "Daily call allowance", labels=labels)
        for w in self.watched():
            room = w.governor.headroom(w.key)
            values = [w.key.tenant or UNKNOWN_TENANT, w.key.system, w.key.credential]
            for family, value in ((tokens, room.tokens), (capacity, room.capacity),
                                  (daily, room.daily_remaining), (limit, room.daily_limit)):
                if value is not None:
                    family.add_metric(values, float(value))
        yield from (tokens, capacity, daily, limit)


class IngestQueueCollector(Collector):
    """The ingest queue at scrape time: changes waiting for the writer, the limit, and changes refused as
    overloaded (decision 086). Hub-wide: one queue serves every tenant."""

    def __init__(self, waiting_of: Callable[[], WaitingCount | None]) -> None:
        self._waiting_of = waiting_of

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        count = self._waiting_of()
        if count is None:
            return
        for family, value in (
                (GaugeMetricFamily("concord_ingest_waiting_changes", "Changes queued for the ingest writer",
                                   labels=["tenant"]), count.waiting),
                (GaugeMetricFamily("concord_ingest_waiting_limit", "Changes the ingest queue admits before the "
                                   "change API answers 503", labels=["tenant"]), count.limit),
                (CounterMetricFamily("concord_ingest_refused_changes", "Changes in requests refused because the "
                                     "ingest queue was full (503, Retry-After)", labels=["tenant"]), count.refused)):
            family.add_metric([HUB_WIDE], value)
            yield family


@dataclass
class OpsMetrics:
    """The registry `/metrics` serves, with the live instruments recorded into it."""

    registry: CollectorRegistry
    connector_calls: Histogram
    api_requests: Histogram
    connector_errors: Counter
    headroom: HeadroomCollector
    samples: deque[tuple[CallSample, str]] = field(default_factory=lambda: deque(maxlen=SAMPLE_MEMORY))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sample: CallSample) -> None:
        """`CallRecorder` protocol: give this to connectors (`recorder=ops.metrics`)."""
        tenant = current_tenant()
        labels = (tenant or UNKNOWN_TENANT, sample.system, sample.operation, sample.outcome)
        self.connector_calls.labels(*labels).observe(sample.latency_s)
        if sample.outcome != "ok":
            self.connector_errors.labels(*labels).inc()
        with self._lock:
            self.samples.append((sample, tenant or ""))  # "": no tenant known: charted only unfiltered

    def drain(self) -> list[tuple[CallSample, str]]:
        with self._lock:
            taken = list(self.samples)
            self.samples.clear()
        return taken


def build_metrics(engine_of: Callable[[], Engine | None], catch_up: Callable[[Engine], object],
                  journal_url_of: Callable[[], str | None] | None = None,
                  waiting_of: Callable[[], WaitingCount | None] | None = None) -> OpsMetrics:
    """`journal_url_of`: where the workflow journal is (None: no workflow figures); `waiting_of`: the ingest
    queue's count (None: no queue figures)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine_of, catch_up))
    if waiting_of is not None:
        registry.register(IngestQueueCollector(waiting_of))
    if journal_url_of is not None:
        registry.register(WorkflowCollector(journal_url_of))
    headroom = HeadroomCollector()
    registry.register(headroom)
    labels = ["tenant", "system", "operation", "outcome"]
    calls = Histogram("concord_connector_call_seconds", "Latency of calls to external systems", labels,
                      buckets=LATENCY_BUCKETS, registry=registry)
    errors = Counter("concord_connector_call_errors", "Calls to external systems that did not succeed", labels,
                     registry=registry)
    api = Histogram("concord_api_request_seconds", "Latency of Concord's own HTTP API",
                    ["tenant", "system", "operation", "outcome"], buckets=LATENCY_BUCKETS, registry=registry)
    return OpsMetrics(registry=registry, connector_calls=calls, api_requests=api, connector_errors=errors,
                      headroom=headroom)
