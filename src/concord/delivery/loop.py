"""The sync loop of the embedded default (decision 078): outbound delivery and inbound change capture running
beside the API (`concord serve --connections`) or alone (`concord sync`), without NATS or scale workers.

Delivery drives the same `CommandDispatcher` the scale workers drive, over the plain (unpartitioned) store: one
process owns the outbox. Capture runs one poller per configured (system, object): the first time it moves the
cursor to "now" (loading what already exists is the explicit backfill), afterwards it resumes from the saved
cursor, so a restart re-reads at most the page it had not acknowledged (idempotent replays).
A failing round is logged (tenant and system named, never the payload) and retried; it never ends the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from concord.connectors.base import Connector
from concord.delivery.capture import ChangeCapture
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.residency import Residency, ResidencyRefused
from concord.delivery.store import DeliveryStore
from concord.delivery.sync_lock import SyncLock, sync_lock
from concord.ingest.service import IngestService
from concord.observability.logs import log_context

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


class DeliveryLoop:
    """Runs the dispatcher on its own thread until stopped (scale workers run it over their partitions)."""

    def __init__(self, dispatcher: CommandDispatcher, idle_s: float = 0.2) -> None:
        self.dispatcher = dispatcher
        self.idle_s = idle_s
        self.delivered = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="concord-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.dispatcher.run_once()
            except Exception:  # a database hiccup: try again shortly
                self.failures += 1
                log.warning("delivery round failed", exc_info=True)
                self._stop.wait(1.0)
                continue
            self.delivered += report.delivered
            if report.delivered == 0:
                self._stop.wait(self.idle_s)


@dataclass(frozen=True)
class CaptureSpec:
    """One configured capture: poll `system`'s `object` every `every_s` seconds, ingest as `tenant`'s `entity`
    of system `ingest_as` (default `system`: an invoice feed entry is read as itself, mapped as its vendor)."""

    system: str
    object: str
    entity: str
    tenant: str = "default"
    every_s: float = 30.0
    ingest_as: str | None = None


class CapturePoller:
    """One (system, object) on its schedule, on its own thread."""

    def __init__(self, spec: CaptureSpec, connector: Connector, store: DeliveryStore, ingest: IngestService,
                 stop: threading.Event) -> None:
        self.spec = spec
        self.connector = connector
        self.capture = ChangeCapture(store, ingest, tenant=spec.tenant)
        self.store = store
        self.applied = 0
        self.failures = 0
        self._stop = stop
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"concord-capture-{spec.system}-{spec.object}")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def round(self) -> None:
        """One poll; the first ever for this (tenant, system, object) only moves the cursor to now."""
        spec = self.spec
        if not self.store.has_cursor(spec.tenant, spec.system, spec.object):
            skipped = self.capture.start_from_now(spec.system, self.connector, spec.object)
            log.info("capture started from now", extra={"tenant": spec.tenant, "system": spec.system,
                                                        "object": spec.object, "skipped": skipped})
            return
        report = self.capture.poll(spec.system, self.connector, spec.object, spec.entity, as_system=spec.ingest_as)
        self.applied += report.applied

    def _run(self) -> None:
        delay = 0.0  # the first round at once: a fresh start sets its cursor before changes come in
        while not self._stop.wait(delay):
            delay = self.spec.every_s
            try:
                with log_context(tenant=self.spec.tenant, step=f"capture.{self.spec.system}"):
                    self.round()
            except Exception as exc:  # a vendor or database hiccup: logged, retried with backoff, never fatal
                self.failures += 1
                delay = min(self.spec.every_s * 2 ** min(self.failures, 10), max(MAX_BACKOFF_S, self.spec.every_s))
                # the exception's type only: a vendor message can echo the record's fields (PII)
                log.warning("capture round failed", extra={
                    "tenant": self.spec.tenant, "system": self.spec.system, "object": self.spec.object,
                    "error": type(exc).__name__, "retry_in_s": delay})
            else:
                self.failures = 0


def _capture_endpoint(rules: Residency, spec: CaptureSpec, connectors: Mapping[str, Connector]) -> Connector:
    """A pinned tenant's capture reads its region's endpoint only (decision 072): another region's would pull
    other tenants' records in as this tenant's. Raises ResidencyRefused (the plan refuses such an entry first)."""
    found = rules.connector(spec.tenant, spec.system, connectors)
    if found is None:
        raise ResidencyRefused(f"no connector for {spec.system!r}")
    return found


class SyncLoop:
    """Delivery plus one capture poller per spec; `start` once, `stop` once (also as a context manager).

    Only the holder of the database's sync lock runs them (`delivery/sync_lock.py`). A loop that finds the lock
    held waits as a standby, trying again every `standby_s`, and takes over when the holder goes away. The holder
    checks on the same period that it still holds the lock (a PostgreSQL session can be cut under it) and, if
    not, stops its threads and becomes a standby itself: two loops overlap for at most one period."""

    def __init__(self, store: DeliveryStore, ingest: IngestService, connectors: Mapping[str, Connector],
                 captures: list[CaptureSpec], residency: Residency | None = None, idle_s: float = 0.2,
                 lock: SyncLock | None = None, standby_s: float = 5.0) -> None:
        rules = residency or Residency()
        self._dispatcher = CommandDispatcher(store, connectors, residency=rules)
        self._idle_s = idle_s
        self._store, self._ingest = store, ingest
        self._captures = [(spec, _capture_endpoint(rules, spec, connectors)) for spec in captures]
        self._stop = threading.Event()
        self.lock = lock if lock is not None else sync_lock(store.engine)
        self.standby_s = standby_s
        self.active = threading.Event()  # set while this loop holds the lock and runs
        self._crew()
        self._lease = threading.Thread(target=self._keep_lease, name="concord-sync-lease", daemon=True)

    def _crew(self) -> None:
        """Fresh threads for a (re)start: a stopped thread cannot run again."""
        self._crew_stop = threading.Event()
        self.delivery = DeliveryLoop(self._dispatcher, self._idle_s)
        self.pollers = [CapturePoller(spec, connector, self._store, self._ingest, self._crew_stop)
                        for spec, connector in self._captures]

    def start(self) -> None:
        if self.lock.acquire():
            self._run_all()
        else:
            log.warning("sync loop on standby: another process syncs this database",
                        extra={"holder": self.lock.holder(), "retry_s": self.standby_s})
        self._lease.start()

    def _run_all(self) -> None:
        self.delivery.start()
        for poller in self.pollers:
            poller.start()
        self.active.set()
        log.info("sync loop started", extra={"captures": len(self.pollers)})

    def _keep_lease(self) -> None:
        while not self._stop.wait(self.standby_s):
            if not self.active.is_set():
                if self.lock.acquire():
                    log.info("sync loop taking over: the previous holder is gone")
                    self._run_all()
            elif not self.lock.held():
                log.error("sync loop lost its lock (database session gone?): stopping, then standing by")
                if self._halt():
                    self.lock.release()  # closes what is left of the old hold, so acquire starts afresh
                    self._crew()
                else:  # a thread would not stop: never run a second crew beside it
                    return

    def _halt(self) -> bool:
        """Stop the running threads; True when every one of them ended."""
        self._crew_stop.set()
        self.delivery.stop()
        for poller in self.pollers:
            poller.join()
        self.active.clear()
        return not (self.delivery.alive() or any(p.alive() for p in self.pollers))

    def stop(self) -> None:
        self._stop.set()
        if self._lease.is_alive():
            self._lease.join(timeout=60)
        if self.active.is_set():
            if self._halt():
                self.lock.release()
            else:  # still sending: keep the lock (the process's end releases it) so no standby starts beside it
                log.error("sync loop threads did not stop in time; the lock stays held until the process ends")

    def __enter__(self) -> SyncLoop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
