"""Helpers of the scale tests: a workload whose outcome is known, in-process workers, the state to compare."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, text

from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.scale.bus import ChangeBus
from concord.scale.leases import LeaseManager
from concord.scale.runner import open_database
from concord.scale.settings import ScaleSettings
from concord.scale.worker import Worker
from concord.storage.engine import make_engine, upgrade

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def workload(count: int, customers: int, prefix: str = "w") -> list[ChangeCreate]:
    """CRM and ERP updates of `customers` accounts, each change numbered (`seq`) in its customer's order;
    one ERP update in ten is stale (the gate must refuse it), which only works out right in order."""
    out = []
    for i in range(count):
        c = (i * 7919) % customers
        at = T0 + timedelta(seconds=i)
        if i % 3:
            fields = {"Name": f"Customer {c}", "NumberOfEmployees": i, "Phone": f"+1 555 {i % 10000:04d}"}
            out.append(ChangeCreate(system="salesforce", entity="account", external_id=f"sf-{c}", fields=fields,
                                    source_ts=at, idempotency_key=f"{prefix}-{i}", canonical_id=f"cus-{c}"))
        else:
            stale = at - timedelta(hours=1) if i % 10 == 0 else at
            fields = {"name": f"Customer {c} GmbH", "code": f"C-{c}", "credit_limit_amount": i}
            out.append(ChangeCreate(system="tryton", entity="account", external_id=str(c), fields=fields,
                                    source_ts=stale, idempotency_key=f"{prefix}-{i}", canonical_id=f"cus-{c}"))
    return out


def golden_state(engine: Engine) -> dict[str, tuple[int, str]]:
    """id → (version, field values) of every golden record: what must not depend on how many workers ran."""
    from concord.canonical.golden import GoldenRecord

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, tenant, entity, version, data FROM golden_records")).all()
    out = {}
    for rid, tenant, entity, version, data in rows:
        record = GoldenRecord.from_json(tenant, entity, rid, version, orjson.loads(data))
        out[rid] = (version, orjson.dumps(record.values(), option=orjson.OPT_SORT_KEYS).decode())
    return out


def command_state(engine: Engine) -> dict[str, list[str]]:
    """canonical id → its outbound commands (target, op, fields) in outbox order."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT canonical_id, target, payload FROM outbox WHERE kind = 'command'"
                                 " ORDER BY seq")).all()
    out: dict[str, list[str]] = {}
    for cid, target, payload in rows:
        p = orjson.loads(payload)
        out.setdefault(cid, []).append(f"{target}:{p['op']}:{orjson.dumps(p['fields'], option=orjson.OPT_SORT_KEYS)!r}")
    return out


def reference(runtime: Runtime, changes: list[ChangeCreate]) -> tuple[dict[str, tuple[int, str]], dict[str, list[str]]]:
    """The single-process embedded run: the answer every scale-out run must reproduce."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'ref.db'}", sqlite_synchronous="OFF")
        upgrade(engine)
        service = IngestService(engine, runtime)
        service.start()
        for start in range(0, len(changes), 500):
            service.ingest(changes[start:start + 500])
        service.stop()
        state = golden_state(engine), command_state(engine)
        engine.dispose()
    return state


def order_violations(engine: Engine) -> list[str]:
    """Customers whose change log is not in the order their changes were published (idempotency keys carry
    the publish index)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT canonical_id, idempotency_key FROM change_log ORDER BY seq")).all()
    last: dict[str, int] = {}
    bad = []
    for cid, key in rows:
        n = int(key.rsplit("-", 1)[1])
        if n < last.get(cid, -1):
            bad.append(f"{cid}: {key} after #{last[cid]}")
        last[cid] = max(n, last.get(cid, -1))
    return bad


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@dataclass
class ThreadWorker:
    """A worker on a thread of the test process (its own engine, bus connection and leases)."""

    worker: Worker
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: list[BaseException] = field(default_factory=list)

    def start(self) -> ThreadWorker:
        def run() -> None:
            try:
                self.worker.run(self.stop)
            except BaseException as exc:
                self.error.append(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


def thread_worker(url: str, runtime: Runtime, scale: ScaleSettings, worker_id: str) -> ThreadWorker:
    engine = open_database(url)
    leases = LeaseManager(engine, worker_id, scale.partitions, scale.lease_ttl_s)
    leases.prepare()
    bus = ChangeBus(scale)
    bus.ensure_stream()
    return ThreadWorker(Worker(engine, runtime, bus, leases, scale))


def scale_env(scale: ScaleSettings, database_url: str, **extra: Any) -> dict[str, str]:
    """Environment for a `concord worker` subprocess."""
    env = {"CONCORD_DATABASE_URL": database_url, "CONCORD_SCALE_NATS_URLS": scale.nats_urls,
           "CONCORD_SCALE_STREAM": scale.stream, "CONCORD_SCALE_SUBJECT_PREFIX": scale.subject_prefix,
           "CONCORD_SCALE_PARTITIONS": str(scale.partitions), "CONCORD_SCALE_REPLICAS": str(scale.replicas),
           "CONCORD_SCALE_LEASE_TTL_S": str(scale.lease_ttl_s), "CONCORD_SCALE_HEARTBEAT_S": str(scale.heartbeat_s)}
    env.update({k: str(v) for k, v in extra.items()})
    return env
