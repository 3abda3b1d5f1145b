"""bench/events: publish + route + consume with acks, 1 KB lifecycle events, on the embedded log and on NATS.

Rows:
- end to end: a publisher thread validates and appends batches while a consumer thread fetches, routes (a real
  events.yaml predicate), upcasts, hands each event to a subscriber, writes the processed-event ledger and acks;
  the rate is events / (first publish → last processed).
- NATS publish / consume: our NatsLog alone (append with PubAcks; fetch + explicit ack), and the ceiling: a plain
  nats-py publish_async / pull-fetch-ack loop measured in the same run on the same payloads, with the ratio.
- latency: events published at a paced 2,000/s; p50/p99 from publish to the subscriber.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from concord.events.consumer import SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.envelope import EventEnvelope, EventLog
from concord.events.nats_log import NatsLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.routing import RoutingConfig, matches
from concord.storage.engine import make_engine, upgrade
from concord.tuning import tune_gc_for_throughput
from concord.yamlconf import validate_yaml

NATS_URL = "nats://127.0.0.1:4222"
ROUTING = """subscriptions:
  bench:
    events: [CustomerUpdated, CreditStatusChanged]
    where: {tenants: [default, acme-eu]}
    subscriber: {kind: workflow_signal, workflow: bench, signal: s}
"""


@dataclass
class Row:
    label: str
    events: int
    seconds: float
    target: str
    latencies_ms: list[float] | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def make_events(count: int, customers: int = 200) -> list[EventEnvelope]:
    """CustomerUpdated v1 events of about 1 KB each (JSON), spread over `customers`."""
    now = datetime.now(UTC)
    note = "x" * 560
    return [EventEnvelope(
        event_id=uuid.uuid4().hex, type="CustomerUpdated", schema_version=1, tenant="default",
        customer_key=f"cus-{i % customers}", correlation_id=uuid.uuid4().hex, causation_id=uuid.uuid4().hex,
        occurred_at=now, data={"entity": "account", "canonical_id": f"cus-{i % customers}",
                               "source_system": "salesforce",
                               "changes": {"name": {"before": f"Customer {i}", "after": f"Customer {i} Ltd"},
                                           "notes": {"before": None, "after": note},
                                           "phone": {"before": None, "after": "+1 555 0100"}}})
        for i in range(count)]


@dataclass(frozen=True)
class Target:
    """Where the publisher process appends (the database at `url`, or a NATS stream); `url` also holds the
    consumer's ledger."""

    backend: str
    url: str = ""
    stream: str = ""
    prefix: str = ""

    def open(self) -> EventLog:
        if self.backend == "nats":
            return NatsLog(NATS_URL, stream=self.stream, subject_prefix=self.prefix)
        return EmbeddedLog(make_engine(self.url, sqlite_synchronous="NORMAL"))


def _publisher(target: Target, count: int, rate: float | None, ready: Any, go: Any) -> None:
    """Runs in its own process (the relay's place in production): validates and appends."""
    log, registry = target.open(), SchemaRegistry.default()
    events = make_events(count)
    ready.set()
    go.wait()
    if rate is None:
        for i in range(0, count, 500):
            publish(log, registry, events[i:i + 500])
    else:
        batch, start = 4, time.perf_counter()  # 4 events every 2 ms = 2,000/s
        for n, i in enumerate(range(0, count, batch)):
            # One sleep to the due time: polling every 0.2 ms cost the 2-core box ~5,000 wake-ups a second that
            # the consumer under test then waited behind.
            time.sleep(max(0.0, start + n * batch / rate - time.perf_counter()))
            stamp = datetime.now(UTC)  # publish time travels in occurred_at: same host, same clock
            publish(log, registry, [e.model_copy(update={"occurred_at": stamp}) for e in events[i:i + batch]])
    log.close()


class Sink:
    """The subscriber: counts, and records publish→handle latency from the publisher's stamp."""

    def __init__(self, measure: bool) -> None:
        self.count = 0
        self.measure = measure
        self.latencies_ms: list[float] = []
        self.done_at = 0.0

    transactional = False

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        self.count += 1
        if self.measure:
            self.latencies_ms.append((time.time() - event.occurred_at.timestamp()) * 1000)

    def flush(self, tx: Connection) -> None:
        self.done_at = time.perf_counter()


def pipeline(label: str, target: Target, consumer_log: EventLog, count: int, rate: float | None) -> Row:
    """Publisher process → log → this process: route, upcast, subscriber, ledger, ack."""
    config = validate_yaml(RoutingConfig, ROUTING, "bench").subscriptions["bench"]
    engine = make_engine(target.url, sqlite_synchronous="NORMAL")  # the log too, when embedded
    upgrade(engine)
    sink = Sink(measure=rate is not None)
    runner = SubscriptionRunner("bench", consumer_log, engine, sink, SchemaRegistry.default(),
                                accepts=lambda e: matches(config, e))
    # As a long-running consumer does (docs/decisions/008): otherwise full collections walking everything the
    # earlier scenarios left in this process become the p99 (24 ms → 8 ms for NATS at 2,000/s).
    gc.collect()
    tune_gc_for_throughput()
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_publisher, args=(target, count, rate, ready, go))
    proc.start()
    ready.wait(60)
    start = time.perf_counter()
    go.set()
    deadline = start + 300
    while sink.count < count and time.perf_counter() < deadline:
        runner.run_once(max_events=1000 if rate is None else 200, wait_s=0.05)
    proc.join(60)
    engine.dispose()
    return Row(label, sink.count, sink.done_at - start, "≥ 10,000/s" if rate is None else "p99 ≤ 10 ms",
               sink.latencies_ms or None)


def _timed(label: str, count: int, target: str, work: Callable[[], object]) -> Row:
    start = time.perf_counter()
    work()
    return Row(label, count, time.perf_counter() - start, target)


def nats_rows(events: list[EventEnvelope]) -> list[Row]:
    tag = uuid.uuid4().hex[:8]
    log = NatsLog(NATS_URL, stream=f"BENCH_{tag}", subject_prefix=f"bench{tag}")
    try:
        publish_row = _timed("NatsLog.append (PubAck each)", len(events), "≥ 20,000/s",
                             lambda: [log.append(events[i:i + 1000]) for i in range(0, len(events), 1000)])

        def consume() -> None:
            got = 0
            while got < len(events):
                batch = log.fetch("bench-consume", 1000, wait_s=0.5)
                log.ack("bench-consume", batch)
                got += len(batch)

        consume_row = _timed("NatsLog.fetch + explicit ack", len(events), "≥ 10,000/s", consume)
    finally:
        log.delete_stream()
        log.close()
    payloads = [e.model_dump_json().encode() for e in events]
    ceiling_pub, ceiling_con = asyncio.run(_plain_nats(payloads))
    return [publish_row, Row("plain nats-py publish_async (ceiling)", len(events), ceiling_pub, "—"),
            consume_row, Row("plain nats-py fetch + ack (ceiling)", len(events), ceiling_con, "—")]


async def _plain_nats(payloads: list[bytes]) -> tuple[float, float]:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    name = f"PLAIN_{uuid.uuid4().hex[:8]}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"]))
    try:
        start = time.perf_counter()
        for i in range(0, len(payloads), 1000):
            futures = [await js.publish_async(f"{name.lower()}.x", p, headers={"Nats-Msg-Id": f"{i}-{j}"})
                       for j, p in enumerate(payloads[i:i + 1000])]
            await asyncio.gather(*futures)
        published = time.perf_counter() - start
        sub = await js.pull_subscribe(f"{name.lower()}.>", durable="plain", stream=name,
                                      config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000))
        start = time.perf_counter()
        got = 0
        while got < len(payloads):
            msgs = await sub.fetch(1000, timeout=1)
            for m in msgs:
                await m.ack()
            got += len(msgs)
        await nc.flush()
        consumed = time.perf_counter() - start
    finally:
        await js.delete_stream(name)
        await nc.close()
    return published, consumed


def _embedded_rows(tmp: Path) -> list[Row]:
    rows = []
    for label, name, count, rate in (("embedded (SQLite): publish + route + consume + ack", "e2e", 30_000, None),
                                     ("embedded (SQLite) at 2,000/s", "lat", 20_000, 2000.0)):
        url = f"sqlite:///{tmp / name}.db"
        engine = make_engine(url, sqlite_synchronous="NORMAL")
        upgrade(engine)
        log = EmbeddedLog(engine, poll_s=0.001, commit_interval_s=0.2)
        rows.append(pipeline(label, Target("embedded", url), log, count, rate))
        engine.dispose()
    return rows


def _nats_pipeline_rows(tmp: Path) -> list[Row]:
    rows = []
    for label, name, count, rate in (("NATS: publish + route + consume + ack", "ne2e", 30_000, None),
                                     ("NATS at 2,000/s", "nlat", 20_000, 2000.0)):
        tag = uuid.uuid4().hex[:8]
        target = Target("nats", f"sqlite:///{tmp / name}.db", f"BENCH_{tag}", f"bench{tag}")
        log = target.open()
        try:
            rows.append(pipeline(label, target, log, count, rate))
        finally:
            log.delete_stream()  # type: ignore[attr-defined]
            log.close()
    return rows


def main() -> None:
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp:
        rows = _embedded_rows(Path(tmp)) + _nats_pipeline_rows(Path(tmp)) + nats_rows(make_events(20_000))
    table = Table("scenario", "events", "seconds", "events/s", "p50 ms", "p99 ms", "target",
                  title="bench/events — 1 KB events, 2 cores; publisher and consumer in separate processes")
    for row in rows:
        lat = row.latencies_ms or []
        p50 = f"{statistics.median(lat):.2f}" if lat else ""
        p99 = f"{statistics.quantiles(lat, n=100)[98]:.2f}" if len(lat) > 100 else ""
        table.add_row(row.label, str(row.events), f"{row.seconds:.2f}", f"{row.rate:,.0f}", p50, p99, row.target)
    console.print(table)
    by_label = {r.label: r for r in rows}
    for ours, ceiling in (("NatsLog.append (PubAck each)", "plain nats-py publish_async (ceiling)"),
                          ("NatsLog.fetch + explicit ack", "plain nats-py fetch + ack (ceiling)")):
        console.print(f"{ours}: {by_label[ours].rate / by_label[ceiling].rate:.0%} of the plain nats-py ceiling")
