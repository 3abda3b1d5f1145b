"""Partition leases in PostgreSQL: heartbeats, fair-share rebalancing, takeover of a dead worker's partitions,
and the fencing check every batch commit runs (decision 060).

Time is PostgreSQL's clock (`clock_timestamp()`), never the worker's: leases compare across machines.
A takeover increments the partition's `token`; `fence` locks the lease rows of a batch's partitions inside the
batch's own transaction and refuses to commit unless this worker still holds the tokens it was granted. The
lock also orders a takeover after an in-flight commit, so the new owner reads `committed_seq` only once the
old owner's last batch is either committed or gone.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from concord.scale.presence import Presence, alive_sql
from concord.scale.settings import ScaleConfigError

PARTITIONS_SETTING = "partitions"
STALE_WORKER_S = 300.0
_NOW = "SELECT extract(epoch FROM clock_timestamp())"


class LeaseLost(RuntimeError):
    """This worker no longer holds a partition of the batch: the batch must not commit."""

    def __init__(self, partitions: list[int]) -> None:
        super().__init__(f"lease lost for partitions {partitions}")
        self.partitions = partitions


@dataclass(frozen=True)
class Lease:
    partition: int
    token: int
    committed_seq: int


@dataclass
class LeaseChanges:
    gained: list[Lease] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


def fair_share(partitions: int, live: list[str], me: str) -> int:
    """How many partitions `me` should hold: an even split, the remainder to the first workers by id."""
    if me not in live:
        return 0
    base, extra = divmod(partitions, len(live))
    return base + (1 if live.index(me) < extra else 0)


class LeaseManager:
    def __init__(self, engine: Engine, worker_id: str, partitions: int, ttl_s: float) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.partitions = partitions
        self.ttl_s = ttl_s
        self.held: dict[int, Lease] = {}
        self.draining = False
        self.presence = Presence(engine, worker_id)
        # The worker's loop and its lease keeper thread both tick; one at a time.
        self.lock = threading.RLock()

    # -- start-up ---------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Record the partition count on first start; refuse a worker configured with another one."""
        if self.engine.dialect.name != "postgresql":
            raise ScaleConfigError("scale mode needs PostgreSQL: set CONCORD_DATABASE_URL=postgresql+psycopg://…")
        self.presence.hold(starting=True)
        with self.engine.begin() as conn:
            conn.execute(text("LOCK TABLE scale_settings IN EXCLUSIVE MODE"))  # two first starts race here
            stored = conn.execute(text("SELECT value FROM scale_settings WHERE name = :n"),
                                  {"n": PARTITIONS_SETTING}).scalar()
            if stored is None:
                conn.execute(text("INSERT INTO scale_settings (name, value) VALUES (:n, :v)"),
                             {"n": PARTITIONS_SETTING, "v": str(self.partitions)})
                conn.execute(text("INSERT INTO scale_leases (partition) SELECT g FROM generate_series(0, :last) g"),
                             {"last": self.partitions - 1})
            else:
                self._check_count(int(stored))
            # Leases still named after this id belong to a dead earlier run of it (the presence lock says no
            # live process has the id): give them back now. Their tokens move when claimed, fencing that run.
            conn.execute(text("UPDATE scale_leases SET owner = NULL, expires_at = 0 WHERE owner = :w"),
                         {"w": self.worker_id})
            self._heartbeat(conn, self._now(conn))

    def _check_count(self, stored: int) -> None:
        if stored != self.partitions:
            raise ScaleConfigError(
                f"partition count mismatch: the database was set up with {stored} partitions and this worker has "
                f"CONCORD_SCALE_PARTITIONS={self.partitions}; the count is fixed for a deployment (changing it "
                "would move customers between partitions and break their order) — start it with "
                f"CONCORD_SCALE_PARTITIONS={stored}")

    # -- the periodic tick ------------------------------------------------------------------------------
    def tick(self, release: bool = True) -> LeaseChanges:
        """Heartbeat, renew what is held, give back what exceeds the fair share (only when `release`: the
        caller is between two batches), claim what is missing."""
        with self.lock:
            return self._tick(release)

    def _tick(self, release: bool) -> LeaseChanges:
        changes = LeaseChanges()
        # A lost presence connection is taken again; until then others count this worker as gone (and may take
        # its partitions), so it claims nothing.
        present = self.presence.hold()
        with self.engine.begin() as conn:
            now = self._now(conn)
            stored = conn.execute(text("SELECT value FROM scale_settings WHERE name = :n"),
                                  {"n": PARTITIONS_SETTING}).scalar()
            self._check_count(int(stored) if stored is not None else -1)
            self._heartbeat(conn, now)
            changes.lost = self._renew(conn, now)
            target = 0 if self.draining or not present else fair_share(self.partitions, self._live(conn, now),
                                                                           self.worker_id)
            if len(self.held) > target:
                if release:
                    changes.lost += self._release(conn, sorted(self.held)[target:])
            elif len(self.held) < target:
                changes.gained = self._claim(conn, now, target - len(self.held))
            # A dead owner's partitions are taken whatever the shares say: the fair split can lag behind (a
            # replacement registered but slow to start); the excess is given back at the next balanced tick.
            if present and not self.draining:
                changes.gained += self._claim_orphans(conn, now)
        return changes

    def _now(self, conn: Connection) -> float:
        return float(conn.execute(text(_NOW)).scalar_one())

    def _heartbeat(self, conn: Connection, now: float) -> None:
        conn.execute(text(
            "INSERT INTO scale_workers (worker_id, host, pid, started_at, heartbeat_at, draining)"
            " VALUES (:w, :host, :pid, :now, :now, :d) ON CONFLICT (worker_id) DO UPDATE"
            " SET heartbeat_at = :now, draining = GREATEST(scale_workers.draining, :d)"),
            {"w": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(), "now": now,
             "d": int(self.draining)})
        draining = conn.execute(text("SELECT draining FROM scale_workers WHERE worker_id = :w"),
                                {"w": self.worker_id}).scalar()
        self.draining = bool(draining)  # `concord scale drain` sets the flag from outside
        conn.execute(text(f"DELETE FROM scale_workers WHERE heartbeat_at < :t OR NOT {alive_sql('worker_id')}"),
                     {"t": now - STALE_WORKER_S})

    def _renew(self, conn: Connection, now: float) -> list[int]:
        if not self.held:
            return []
        # Rows our own in-flight batch holds (the fence locks them) are skipped rather than waited for: that
        # batch may run for seconds, and this tick must not stall behind it (it also takes dead workers'
        # partitions over). Those rows' leases are extended at the next tick.
        conn.execute(text(
            "UPDATE scale_leases SET expires_at = :exp WHERE partition IN (SELECT partition FROM scale_leases"
            " WHERE owner = :w AND partition = ANY(:ps) ORDER BY partition FOR UPDATE SKIP LOCKED)"),
            {"exp": now + self.ttl_s, "w": self.worker_id, "ps": list(self.held)})
        rows = conn.execute(text("SELECT partition, owner, token FROM scale_leases WHERE partition = ANY(:ps)"),
                            {"ps": list(self.held)})
        still = {p: tok for p, owner, tok in rows if owner == self.worker_id}
        lost = [p for p, lease in self.held.items() if still.get(p) != lease.token]
        for p in lost:
            del self.held[p]
        return lost

    def _live(self, conn: Connection, now: float) -> list[str]:
        rows = conn.execute(text("SELECT worker_id FROM scale_workers WHERE heartbeat_at > :t AND draining = 0"
                                 f" AND {alive_sql('worker_id')} ORDER BY worker_id"), {"t": now - self.ttl_s})
        return [r[0] for r in rows]

    def _release(self, conn: Connection, partitions: list[int]) -> list[int]:
        conn.execute(text("UPDATE scale_leases SET owner = NULL, expires_at = 0 WHERE owner = :w"
                          " AND partition = ANY(:ps)"), {"w": self.worker_id, "ps": partitions})
        for p in partitions:
            self.held.pop(p, None)
        return partitions

    def _claim(self, conn: Connection, now: float, wanted: int) -> list[Lease]:
        # SKIP LOCKED: a lease row locked by an in-flight fenced commit is left for a later tick.
        rows = conn.execute(text(
            "UPDATE scale_leases SET owner = :w, token = token + 1, expires_at = :exp, updated_at = :now"
            " WHERE partition IN (SELECT partition FROM scale_leases WHERE owner IS NULL OR expires_at < :now"
            " ORDER BY partition LIMIT :k FOR UPDATE SKIP LOCKED)"
            " RETURNING partition, token, committed_seq"),
            {"w": self.worker_id, "exp": now + self.ttl_s, "now": now, "k": wanted})
        gained = [Lease(p, tok, seq) for p, tok, seq in rows]
        self.held.update({lease.partition: lease for lease in gained})
        return gained

    def held_now(self) -> set[int]:
        with self.lock:
            return set(self.held)

    def drop(self, partitions: list[int]) -> None:
        """Forget partitions the fence found taken over (their rows already name another owner)."""
        with self.lock:
            for p in partitions:
                self.held.pop(p, None)

    def _claim_orphans(self, conn: Connection, now: float) -> list[Lease]:
        """Partitions of a worker whose presence lock is gone (its process died: taken at once), or whose
        lease lapsed half a TTL ago (a hung process or a vanished host)."""
        rows = conn.execute(text(
            "UPDATE scale_leases SET owner = :w, token = token + 1, expires_at = :exp, updated_at = :now"
            " WHERE partition IN (SELECT partition FROM scale_leases l WHERE owner IS NOT NULL AND owner <> :w"
            f" AND (expires_at < :orphaned OR NOT {alive_sql('l.owner')}) ORDER BY partition FOR UPDATE SKIP LOCKED)"
            " RETURNING partition, token, committed_seq"),
            {"w": self.worker_id, "exp": now + self.ttl_s, "now": now, "orphaned": now - self.ttl_s / 2})
        gained = [Lease(p, tok, seq) for p, tok, seq in rows]
        self.held.update({lease.partition: lease for lease in gained})
        return gained

    # -- inside a batch's transaction -------------------------------------------------------------------
    def fence(self, conn: Connection, positions: Mapping[int, int]) -> None:
        """Refuse the batch unless every partition in it is still ours; then advance their positions."""
        parts = sorted(positions)
        rows = conn.execute(text("SELECT partition, token FROM scale_leases WHERE partition = ANY(:ps)"
                                 " AND owner = :w ORDER BY partition FOR UPDATE"),
                            {"ps": parts, "w": self.worker_id})
        tokens = {p: tok for p, tok in rows}
        # No `self.lock` here: a keeper tick holds it while waiting for these very rows (a deadlock across the
        # two locks); copying the dict is atomic under the GIL.
        held = dict(self.held)
        lost = [p for p in parts if p not in held or tokens.get(p) != held[p].token]
        if lost:
            raise LeaseLost(lost)
        conn.execute(text("UPDATE scale_leases SET committed_seq = GREATEST(committed_seq, :seq)"
                          " WHERE partition = :p"), [{"p": p, "seq": positions[p]} for p in parts])

    def positions(self, partitions: list[int]) -> dict[int, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT partition, committed_seq FROM scale_leases WHERE partition = ANY(:ps)"),
                                {"ps": partitions})
            return {p: seq for p, seq in rows}

    # -- leaving ----------------------------------------------------------------------------------------
    def leave(self) -> None:
        """Give every partition back at once (a drained or stopped worker) so others need not wait out the TTL."""
        try:
            with self.engine.begin() as conn:
                conn.execute(text("UPDATE scale_leases SET owner = NULL, expires_at = 0 WHERE owner = :w"),
                             {"w": self.worker_id})
                conn.execute(text("DELETE FROM scale_workers WHERE worker_id = :w"), {"w": self.worker_id})
            with self.lock:
                self.held.clear()
        finally:
            self.presence.release()


def request_drain(engine: Engine, worker_id: str) -> bool:
    """Ask a worker to hand its partitions over and stop; True when such a worker is registered."""
    with engine.begin() as conn:
        done = conn.execute(text("UPDATE scale_workers SET draining = 1 WHERE worker_id = :w"), {"w": worker_id})
        return bool(done.rowcount)


def lease_table(engine: Engine) -> list[dict[str, object]]:
    """Workers and how many partitions each holds (for `concord scale status`)."""
    with engine.connect() as conn:
        now = float(conn.execute(text(_NOW)).scalar_one())
        rows = conn.execute(text(
            "SELECT w.worker_id, w.host, w.pid, w.heartbeat_at, w.draining, count(l.partition)"
            " FROM scale_workers w LEFT JOIN scale_leases l ON l.owner = w.worker_id AND l.expires_at > :now"
            " GROUP BY w.worker_id, w.host, w.pid, w.heartbeat_at, w.draining ORDER BY w.worker_id"), {"now": now})
        return [{"worker": r[0], "host": r[1], "pid": r[2], "heartbeat_age_s": round(now - r[3], 1),
                 "draining": bool(r[4]), "partitions": r[5]} for r in rows]
