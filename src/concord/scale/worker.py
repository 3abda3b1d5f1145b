"""One `concord worker`: holds leases on some partitions, reads their changes from the bus and commits them through
the ordinary ingest path (binder → gate → golden record + outbox), fenced by its leases (decision 060).

Single-threaded on purpose: a lease is given back or dropped only between two batches, so a partition is never
half-processed when it moves. Outbound delivery for the held partitions runs on its own thread (delivery.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.ingest.cache import BindingCache, RecordCache
from concord.ingest.models import ChangeError
from concord.ingest.prepare import PreparedChange, Rejected, prepare
from concord.ingest.service import process_in_transaction
from concord.scale.bus import BusMessage, ChangeBus
from concord.scale.leases import LeaseChanges, LeaseLost, LeaseManager
from concord.scale.settings import ScaleConfigError, ScaleSettings
from concord.security.mapping_sync import sync_engine as sync_mappings

log = logging.getLogger(__name__)
FAILURE_PAUSE_S = 0.5


@dataclass
class WorkerStats:
    batches: int = 0
    committed: int = 0
    replayed: int = 0
    refused: int = 0
    fenced: int = 0  # batches refused because a lease moved
    failed: int = 0
    gained: int = 0
    lost: int = 0


class Worker:
    def __init__(self, engine: Engine, runtime: Runtime, bus: ChangeBus, leases: LeaseManager,
                 settings: ScaleSettings) -> None:
        self.engine = engine
        self.runtime = runtime
        self.bus = bus
        self.leases = leases
        self.settings = settings
        self.stats = WorkerStats()
        self.cache = RecordCache()
        self.bindings = BindingCache()
        self._owned_lock = threading.Lock()
        self._owned: list[int] = []
        self._to_open: set[int] = set()  # held partitions without a consumer yet (or whose consumer broke)
        self._next_open = 0.0
        self._inbox = LeaseChanges()  # what the keeper thread's ticks changed, for the loop to act on
        self._fatal: list[ScaleConfigError] = []

    def owned(self) -> list[int]:
        """The partitions held right now (read by the delivery thread)."""
        with self._owned_lock:
            return list(self._owned)

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set or a drain completes; gives every lease back on the way out."""
        next_tick = 0.0
        # The keeper stops with the loop, whatever ended it (stop, a drain, a fatal error): it must not heartbeat
        # or claim again after the leases were given back, nor share the presence connection with `_leave`.
        done = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(done,), name="concord-lease-keeper", daemon=True)
        keeper.start()
        try:
            while not stop.is_set():
                if self._fatal:
                    raise self._fatal[0]
                if time.monotonic() >= next_tick or self._inbox.gained or self._inbox.lost:
                    self.tick()
                    next_tick = time.monotonic() + self.settings.heartbeat_s
                    if self.leases.draining and not self.leases.held_now():
                        log.info("drained: every partition handed over")
                        return
                self._open_pending()
                if not self.bus.owned():
                    stop.wait(0.1)
                    continue
                self.step()
        finally:
            done.set()
            keeper.join(timeout=self.settings.heartbeat_s + 30)
            self._leave()

    def _keep(self, stop: threading.Event) -> None:
        """Heartbeats, renewals and claims off the batch loop: a long batch must neither let this worker's
        leases lapse nor delay the takeover of a dead worker's partitions. Giving partitions back is left to
        the loop, between two batches."""
        while not stop.wait(self.settings.heartbeat_s):
            try:
                changes = self.leases.tick(release=False)
            except ScaleConfigError as exc:
                self._fatal.append(exc)
                return
            except Exception:
                log.warning("lease keeper tick failed", exc_info=True)
                continue
            with self.leases.lock:
                self._inbox.gained += changes.gained
                self._inbox.lost += changes.lost

    def tick(self) -> None:
        try:
            changes = self.leases.tick()
        except ScaleConfigError:
            raise
        except Exception:  # the database is away: keep going; the fence stops commits if a lease moves meanwhile
            log.warning("lease tick failed", exc_info=True)
            changes = LeaseChanges()
        with self.leases.lock:
            changes.gained += self._inbox.gained
            changes.lost += self._inbox.lost
            self._inbox = LeaseChanges()
        for p in changes.lost:
            self.bus.close_partition(p)
            self._to_open.discard(p)
        if changes.gained:
            # Records cached while another worker owned these customers may be stale; the version check would
            # catch it, but a clean start costs one read.
            self.cache.clear()
            self.bindings.clear()
        self._to_open.update(lease.partition for lease in changes.gained)
        self._next_open = 0.0
        try:
            gone = self.bus.broken()
        except Exception:  # NATS itself is away: the client reconnects; look again at the next tick
            gone = []
        if gone:
            log.warning("consumers of %s are gone (a NATS node left); reopening", gone)
            self._reopen(gone)
        self.stats.gained += len(changes.gained)
        self.stats.lost += len(changes.lost)
        if changes.gained or changes.lost:
            log.info("partitions: +%s -%s, holding %d", [g.partition for g in changes.gained], changes.lost,
                     len(self.leases.held_now()))
        with self._owned_lock:
            self._owned = sorted(self.leases.held_now())

    def step(self) -> int:
        """One batch: fetch from every held partition, commit fenced, acknowledge. Returns changes committed."""
        messages, broken = self.bus.fetch(self.settings.max_batch)
        if broken:
            self._reopen(broken)
        if not messages:
            return 0
        positions: dict[int, int] = {}
        for m in messages:
            positions[m.partition] = max(positions.get(m.partition, 0), m.seq)
        sync_mappings(self.engine, self.runtime)  # map with the newest activated versions (#8), at most 1 look/s
        prepared = self._prepare(messages)
        try:
            outcomes = process_in_transaction(self.engine, self.runtime, prepared, self.cache, self.bindings,
                                              guard=lambda conn: self.leases.fence(conn, positions))
        except LeaseLost as exc:
            self._fenced(exc.partitions, positions)
            return 0
        except Exception:
            log.exception("batch of %d changes failed; re-reading its partitions", len(messages))
            self.stats.failed += 1
            self._reopen(sorted(positions))
            time.sleep(FAILURE_PAUSE_S)
            return 0
        self.bus.ack(sorted(positions))
        self.stats.batches += 1
        self.stats.committed += sum(1 for o in outcomes if not isinstance(o, ChangeError) and not o.replayed)
        self.stats.replayed += sum(1 for o in outcomes if not isinstance(o, ChangeError) and o.replayed)
        self.stats.refused += sum(1 for o in outcomes if isinstance(o, ChangeError))
        return len(messages)

    def _prepare(self, messages: list[BusMessage]) -> list[PreparedChange]:
        prepared: list[PreparedChange] = []
        for m in messages:
            try:
                prepared.append(prepare(self.runtime, m.change))
            except Rejected as exc:  # validated at publish; only a config change between publish and now gets here
                self.stats.refused += 1
                log.error("partition %s seq %s refused by this worker's configuration: %s", m.partition, m.seq,
                          exc.error.detail)
        return prepared

    def _fenced(self, lost: list[int], positions: dict[int, int]) -> None:
        self.stats.fenced += 1
        log.warning("lease lost for %s: batch not committed", lost)
        self.leases.drop(lost)
        for p in lost:
            self.bus.close_partition(p)
            self._to_open.discard(p)
        self._reopen([p for p in positions if p not in lost])
        with self._owned_lock:
            self._owned = sorted(self.leases.held_now())

    def _reopen(self, partitions: list[int]) -> None:
        """Read the partitions again from their committed positions (what was fetched comes again)."""
        for p in partitions:
            self.bus.close_partition(p)
        held = self.leases.held_now()
        self._to_open.update(p for p in partitions if p in held)
        self._next_open = 0.0

    def _open_pending(self) -> None:
        """Open consumers for held partitions that have none. A failure (a NATS node or leader is away) is
        retried shortly; the lease stays held meanwhile, so the partition waits for this worker."""
        self._to_open &= self.leases.held_now()
        if not self._to_open or time.monotonic() < self._next_open:
            return
        try:
            committed = self.leases.positions(sorted(self._to_open))
        except Exception:
            log.warning("reading positions failed", exc_info=True)
            self._next_open = time.monotonic() + FAILURE_PAUSE_S
            return
        for p in sorted(self._to_open):
            try:
                self.bus.open(p, committed[p])
                self._to_open.discard(p)
            except Exception as exc:
                log.warning("opening partition %s failed (%s); retrying", p, type(exc).__name__)
                self._next_open = time.monotonic() + FAILURE_PAUSE_S

    def _leave(self) -> None:
        for p in self.bus.owned():
            self.bus.close_partition(p)
        with self._owned_lock:
            self._owned = []
        try:
            self.leases.leave()
        except Exception:  # the leases then expire after their TTL
            log.warning("could not give leases back", exc_info=True)
