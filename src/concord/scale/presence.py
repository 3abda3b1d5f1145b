"""A worker's presence as a PostgreSQL session advisory lock (decision 064).

Each worker holds `pg_try_advisory_lock(PRESENCE_NS, hash(worker_id))` on a connection of its own for as long as it
runs. When the process dies — SIGKILL, OOM, a crash — the kernel closes its socket, PostgreSQL ends the backend and
the lock is gone at once; the survivors see that in `pg_locks` at their next tick and take the partitions over
without waiting out the lease TTL. A host that vanishes without closing its sockets (power, network) still falls
back to lease expiry. Presence only speeds takeover up: correctness stays with the fencing tokens (decision 060).
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

from concord.scale.settings import ScaleConfigError

log = logging.getLogger(__name__)
PRESENCE_NS = 0x636F6E64  # "cond"; the first key of every presence lock (the migration lock is single-key)


def alive_sql(column: str) -> str:
    """SQL true while the worker named in `column` holds its presence lock in this database."""
    return ("EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 2"
            " AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" AND k.classid = {PRESENCE_NS} AND k.objid = (hashtext({column}) & 2147483647)::oid)")


class Presence:
    """Holds the lock on a dedicated autocommit connection (a pooled one would carry the lock to its next user)."""

    def __init__(self, engine: Engine, worker_id: str) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self._conn: Connection | None = None

    def hold(self, starting: bool = False) -> bool:
        """Take the lock if not held (or if its connection died); True while it is held.

        At start-up a lock held by someone else is another live process with this id: refused. Later, after a
        lost connection, the old backend may not have ended yet: not fatal, the next tick tries again (meanwhile
        the others treat this worker as gone and the fence refuses its commits)."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died (database restart, network): others may have taken over
                log.warning("presence connection of %s lost; taking the lock again", self.worker_id)
                self._drop()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:ns, hashtext(:w) & 2147483647)"),
                           {"ns": PRESENCE_NS, "w": self.worker_id}).scalar()
        if not got:
            conn.invalidate()
            conn.close()
            if not starting:
                log.warning("presence lock of %s still held by its old connection; retrying", self.worker_id)
                return False
            raise ScaleConfigError(
                f"another live worker already runs as {self.worker_id!r}: every worker needs its own "
                "CONCORD_SCALE_WORKER_ID (leave it unset for host:pid)")
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:ns, hashtext(:w) & 2147483647)"),
                               {"ns": PRESENCE_NS, "w": self.worker_id})
        except Exception:  # closing the connection below ends the lock anyway
            log.debug("presence unlock failed", exc_info=True)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # really close it: a pooled connection would keep the session lock alive
                conn.close()
            except Exception:
                log.debug("closing the presence connection failed", exc_info=True)
