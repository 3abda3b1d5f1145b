"""The pipelined group commit: batch N+1 is worked out in memory while batch N's commit runs on another thread.

Why: a commit (copying the batch's pages into the WAL and the fsync; PostgreSQL's round trip) releases the
interpreter lock. Done in line, the writer sat idle through it, ~50 µs of its ~210 µs per change on the 2-core
box (docs/decisions/083). Now the order on the writer's one connection is:

    N: reads, gate/router in memory, writes                      (transaction T_N open)
    N+1: its reads (replays, bindings, golden records)           (still in T_N: they see N's writes)
    commit T_N on the committer thread, which then acknowledges N's callers
    N+1: gate/router in memory                                   (beside that commit)
    N+1: any further read, and its writes, wait for T_N's commit (then T_N+1 begins)

Invariants: a caller is acknowledged only after its transaction committed; the connection is never used by two
threads at once (every use after N+1's first reads passes `_Gate.ready`, which waits for N's commit); N+1 is
built on N's uncommitted state (the caches learn N's records and bindings when N is written), so when N's commit
fails, N+1 is void: both go through the serial path again (`IngestService.commit_serially`: retries, isolation),
with the caches dropped and the duplicate checker told to re-read what N reported.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from concord.ingest.prepare import PreparedChange
from concord.ingest.processor import BatchProcessor, Outcome
from concord.matching.follow import Named
from concord.observability.logs import log_context
from concord.observability.tracing import span
from concord.security import audit
from concord.security.mapping_sync import sync as sync_mappings
from concord.security.ownership_changes import sync as sync_ownership
from concord.security.sealing import seals
from concord.tuning import YoungCollector

if TYPE_CHECKING:
    from concord.ingest.service import IngestService, _Job

log = logging.getLogger(__name__)
HUB_WIDE = "*"
SPLIT_AT = 16  # changes: below this a split batch would pay two commits for little overlap


def batch_tenant(prepared: list[PreparedChange]) -> str:
    """The batch's tenant for its log lines; a group commit that spans tenants is logged as hub-wide."""
    tenants = {p.tenant for p in prepared}
    return tenants.pop() if len(tenants) == 1 else HUB_WIDE


class CommitFailed(RuntimeError):
    """The previous batch's commit failed: the batch built on its uncommitted state is void."""


@dataclass
class Written:
    """A batch written in the open transaction, waiting for its commit."""

    jobs: list[_Job]
    outcomes: list[Outcome]
    touched: set[Named] = field(default_factory=set)  # what it reported to the duplicate checker


class Ticket:
    """One commit handed to the committer thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def wait(self) -> bool:
        self.done.wait()
        return self.error is None


class Committer:
    """A thread that runs the commits handed to it, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], Callable[[], None], Ticket] | None] = \
            queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self, commit: Callable[[], None], then: Callable[[], None]) -> Ticket:
        """Hand `commit` over and return once it runs; `then` runs after it succeeded, once the ticket is done
        (the writer need not wait for the acknowledgements). Why wait for the start: the writer goes on with pure
        Python, which keeps the interpreter lock for a whole switch interval (5 ms), so the committer could not
        even begin."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="concord-ingest-commit", daemon=True)
            self._thread.start()
        ticket = Ticket()
        self._queue.put((commit, then, ticket))
        ticket.started.wait()
        return ticket

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            commit, then, ticket = item
            ticket.started.set()
            try:
                commit()
            except BaseException as exc:  # the writer redoes the batch; this thread carries on
                ticket.error = exc
            ticket.done.set()
            if ticket.error is None:
                try:
                    then()
                except Exception:  # committed already: nothing to redo, and this thread must live on
                    log.exception("after an ingest commit")


class _Gate:
    """What a batch's reads and writes wait for once its first reads are done: the previous batch's commit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ticket: Ticket | None = None

    def ready(self) -> None:
        if self.ticket is not None:
            if not self.ticket.wait():
                raise CommitFailed("the previous batch's commit failed") from self.ticket.error
            self.ticket = None
            self.conn.commit()  # SQLAlchemy's side of it; the driver has committed (a no-op for it now)
        if not self.conn.in_transaction():
            self.conn.begin()

    def settle(self) -> bool:
        """Wait for the commit in flight; whether it succeeded (True when there was none)."""
        return self.ticket is None or self.ticket.wait()


class PipelinedWriter:
    """The ingest writer thread's loop (one per `IngestService`), holding one connection for its life."""

    def __init__(self, service: IngestService) -> None:
        self.svc = service
        self.committer = Committer()
        self.collector = YoungCollector()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a defect, not a failed batch (those are redone): answer, never hang
            log.critical("the ingest writer stopped", exc_info=True)
            self.svc.writer_stopped(RuntimeError(f"the ingest writer stopped: {exc!r}"))
            if not isinstance(exc, Exception):
                raise

    def _loop(self) -> None:
        with self.svc.engine.connect() as conn:
            written: Written | None = None
            jobs: list[_Job] = []
            try:
                while True:
                    # Block only when nothing waits for its commit: an empty queue means commit now.
                    jobs, stopping = self.svc.take(block=written is None)
                    if written is None and len(jobs) > 1 and sum(len(j.prepared) for j in jobs) >= SPLIT_AT:
                        # Everything that waited, with no commit in flight: split it, so its second half is worked
                        # out while the first half commits. Whole, it left nothing to overlap with, and with a fixed
                        # number of callers in flight the writer settled there: take all, commit, wait, take all.
                        half = len(jobs) // 2
                        written = self._batch(conn, jobs[:half], None)
                        written = self._batch(conn, jobs[half:], written)
                    elif jobs:
                        written = self._batch(conn, jobs, written)
                    elif written is not None:
                        self._finish(conn, written)
                        written = None
                    if stopping:
                        if written is not None:
                            self._finish(conn, written)
                        return
            except BaseException as exc:
                # Taken or written, never committed (rolled back below): their callers hear why.
                for job in [*(written.jobs if written is not None else []), *jobs]:
                    job.fail(RuntimeError(f"the ingest writer stopped: {exc!r}"))
                raise
            finally:
                self.committer.stop()
                if conn.in_transaction():
                    conn.rollback()

    def _batch(self, conn: Connection, jobs: list[_Job], written: Written | None) -> Written | None:
        prepared = [p for job in jobs for p in job.prepared]
        links = [job.link for job in jobs if job.link is not None]
        svc = self.svc
        with span("ingest.commit", {"concord.changes": len(prepared)}, links=links), \
                log_context(tenant=batch_tenant(prepared), step="ingest.commit"):
            gate = _Gate(conn)
            proc = BatchProcessor(svc.runtime, conn, cache=svc.cache, bindings=svc.bindings, checker=svc.checker)
            try:
                gate.ready()  # no commit in flight yet: only opens the transaction if none is
                sync_ownership(conn, svc.runtime)  # an activated ownership version reaches every writer within ~1 s
                sync_mappings(conn, svc.runtime)  # and an activated mapping version the router's outbound mapping
                proc.load(prepared, ready=gate.ready)  # in the previous batch's transaction: sees its writes
                if written is not None:
                    gate.ticket = self._start_commit(conn, written)
                    self.collector.collect()  # beside that commit, which runs without the interpreter lock
            except Exception:
                # Nothing of the previous batch is acknowledged yet: redo it rather than commit after a failure
                # (PostgreSQL turns the commit of a failed transaction into a rollback without a word).
                self._recover(conn, written, jobs)
                return None
            try:
                outcomes = proc.process()
                # Serialised beside the previous commit too: the writer would only wait for it otherwise.
                proc.freeze()
                sealed = seals(proc.writes.changes)
                gate.ready()
                proc.write()
                audit.append_many(conn, sealed)
                svc.cache.put_many(proc.records.values())  # the next batch builds on these (void if it fails)
                if proc.binder is not None:
                    proc.binder.committed()
                return Written(jobs, outcomes, svc.checker.segment() if svc.checker is not None else set())
            except Exception:
                self._recover(conn, written if not gate.settle() else None, jobs)
                return None

    def _start_commit(self, conn: Connection, written: Written) -> Ticket:
        driver = conn.connection.dbapi_connection  # looked up here: the committer runs only the commit
        if driver is None:
            raise RuntimeError("the ingest writer's connection was invalidated")
        self.svc.overlapped += 1
        return self.committer.start(partial(self._commit, driver), partial(self._acknowledge, written))

    def _commit(self, driver: Any) -> None:
        """The committer's part: the commit, then (when the checkpointer asks) the WAL's last frames copied back,
        before the gate lets the next batch's writes begin their transaction (docs/decisions/084)."""
        driver.commit()
        self.svc.checkpointer.finish_restart(driver)

    def _acknowledge(self, written: Written) -> None:
        """After the commit: resolve each caller's future."""
        self.svc.answer(written.jobs, written.outcomes)

    def _finish(self, conn: Connection, written: Written) -> None:
        """Commit a written batch now, in this thread (nothing to overlap it with)."""
        try:
            conn.commit()
        except Exception:
            self._recover(conn, written, [])
            return
        self._acknowledge(written)
        driver = conn.connection.dbapi_connection
        if driver is not None:
            self.svc.checkpointer.finish_restart(driver)

    @staticmethod
    def _rollback(conn: Connection) -> None:
        """End whatever transaction the connection holds, at the driver too: a commit that failed (SQLAlchemy's
        own, in `_finish`) leaves SQLAlchemy outside a transaction while the driver may still hold it, and with it
        SQLite's write lock (the serial redo would wait for it) or PostgreSQL's row locks. A connection that cannot
        even roll back (lost) is dropped: the next batch gets a new one from the pool."""
        try:
            if conn.in_transaction():
                conn.rollback()
            driver = conn.connection.dbapi_connection
            if driver is not None:
                driver.rollback()
        except Exception:
            log.warning("the ingest writer's connection could not roll back; reconnecting", exc_info=True)
            if not conn.invalidated:
                conn.invalidate()
            if conn.in_transaction():
                conn.rollback()  # of an invalidated connection: resets SQLAlchemy's state, no round trip

    def _recover(self, conn: Connection, failed: Written | None, jobs: list[_Job]) -> None:
        """Roll back, forget what the caches learnt from uncommitted batches, and redo `failed` (a written batch
        whose commit did not happen) and `jobs` through the serial path."""
        self._rollback(conn)
        svc = self.svc
        svc.redone += 1
        svc.cache.clear()
        svc.bindings.clear()
        if svc.checker is not None:
            svc.checker.forget()
            if failed is not None:
                svc.checker.rolled_back(failed.touched)
        if failed is not None:
            log.warning("ingest commit failed; redoing %d changes serially", len(failed.outcomes))
            svc.commit_serially(failed.jobs)
        if jobs:
            svc.commit_serially(jobs)
