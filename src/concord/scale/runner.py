"""Starting a worker: every piece of configuration is checked before the first lease is taken, and each failure
names the setting to fix (unreachable NATS, a wrong database URL, a changed partition count)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from concord.connectors.runtime.governor_redis import RedisGovernorStore
from concord.connectors.runtime.governor_store import GovernorStore
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.residency import tenant_regions
from concord.hubconfig import Runtime
from concord.observability.systems import start_sampler
from concord.scale.bus import ChangeBus
from concord.scale.connectors import connectors_close, load_targets
from concord.scale.delivery import DeliveryLoop, PartitionedDeliveryStore
from concord.scale.leases import LeaseManager
from concord.scale.settings import ScaleConfigError, ScaleSettings
from concord.scale.worker import Worker, WorkerStats
from concord.storage.engine import make_engine, upgrade

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x636F6E63  # "conc"
HEADROOM_SAMPLE_S = 15.0  # seconds between samples of the connectors' rate-limit headroom

def open_database(url: str, pool_size: int = 5) -> Engine:
    """An engine that has connected once and is on the newest schema."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError as exc:
        raise ScaleConfigError(f"CONCORD_DATABASE_URL is not a database URL: {exc}") from exc
    engine = make_engine(_with_connection_check(url), pool_size=pool_size)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        raise ScaleConfigError(f"scale mode needs PostgreSQL, CONCORD_DATABASE_URL is {shown}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ScaleConfigError(f"cannot connect to the database at CONCORD_DATABASE_URL={shown}: {reason}") from exc
    # Workers started together on a new database would run the migrations side by side: one at a time.
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        try:
            upgrade(engine)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            lock.commit()
    return engine


def _with_connection_check(url: str) -> str:
    """A SIGKILLed worker's backend that waits for a row lock would hold the locks it already has (lease rows)
    until that wait ends; PostgreSQL ≥ 14 notices the dead client within a second when asked to look."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "options" in parsed.query:
        return url
    with_check = parsed.update_query_dict({"options": "-c client_connection_check_interval=1000"})
    return with_check.render_as_string(hide_password=False)


def governor_store(scale: ScaleSettings) -> GovernorStore | None:
    if scale.redis_url is None:
        return None
    try:
        return RedisGovernorStore.from_url(scale.redis_url)
    except Exception as exc:
        raise ScaleConfigError(f"cannot reach Redis at CONCORD_SCALE_REDIS_URL={scale.redis_url}: {exc}") from exc


def start_delivery(engine: Engine, scale: ScaleSettings, worker: Worker, connectors_file: Path,
                   regions: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Deliver the held partitions' commands on a thread; returns what stops it and closes the connectors.
    `regions` (tenant → region) pins tenants to their region's endpoints (data residency)."""
    connectors, residency = load_targets(connectors_file, governor_store(scale), regions)
    store = PartitionedDeliveryStore(engine, scale.partitions, worker.owned)
    delivery = DeliveryLoop(CommandDispatcher(store, connectors, residency=residency))
    delivery.start()
    endpoints = residency.named_endpoints(connectors)  # regional ones spend their own allowance: sampled too
    sampler = start_sampler(engine, endpoints, HEADROOM_SAMPLE_S)  # the dashboard's headroom charts

    def stop() -> None:
        sampler.stop()
        delivery.stop()
        connectors_close(endpoints)

    return stop


def run_worker(database_url: str, runtime: Runtime, scale: ScaleSettings, stop: threading.Event,
               connectors_file: Path | None = None) -> WorkerStats:
    """Check everything, then work until `stop` (or a drain) and hand the partitions back."""
    scale.check()
    with ExitStack() as stack:
        engine = open_database(database_url)
        stack.callback(engine.dispose)
        leases = LeaseManager(engine, scale.resolved_worker_id(), scale.partitions, scale.lease_ttl_s)
        leases.prepare()
        bus = ChangeBus(scale)
        stack.callback(bus.close)
        bus.ensure_stream()
        worker = Worker(engine, runtime, bus, leases, scale)
        if connectors_file is not None:
            stack.callback(start_delivery(engine, scale, worker, connectors_file, tenant_regions(runtime.hub.tenants)))
        log.info("worker %s started: %d partitions, stream %s", leases.worker_id, scale.partitions, scale.stream)
        worker.run(stop)
        return worker.stats
    raise AssertionError("unreachable")
