"""Group commit: callers submit changes, one writer thread commits whatever has queued up in one transaction.

No linger timer: under light load a batch is a single change and commits at once; under heavy load the queue
fills while the previous commit runs, so batches grow by themselves and one fsync serves hundreds of changes.
A caller's future resolves only after its transaction committed — acknowledgement implies durability.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from opentelemetry.trace import Link
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from concord.hubconfig import Runtime
from concord.ingest.admission import DEFAULT_MAX_WAITING, WaitingCount
from concord.ingest.cache import BindingCache, RecordCache
from concord.ingest.models import ChangeCreate, ChangeError
from concord.ingest.pipeline import PipelinedWriter, batch_tenant
from concord.ingest.prepare import PreparedChange, Rejected, prepare
from concord.ingest.processor import BatchProcessor, Outcome
from concord.matching.store import DuplicateChecker
from concord.observability.logs import log_context
from concord.observability.tracing import handoff_link, span
from concord.security.mapping_sync import sync as sync_mappings
from concord.security.mapping_sync import sync_engine as sync_mappings_now
from concord.security.ownership_changes import sync as sync_ownership
from concord.security.sealing import seal_batch
from concord.storage.engine import Checkpointer
from concord.storage.repository import ConcurrencyConflict

log = logging.getLogger(__name__)
_tenant_of = batch_tenant  # the name tests and older callers import
RETRIES = 5


@dataclass
class _Job:
    prepared: list[PreparedChange]
    future: Future[list[Outcome]]
    errors: dict[int, ChangeError]  # refused before reaching the writer, by position in the caller's list
    count: int
    link: Link | None = None  # the submitter's span: the writer thread's commit span links back to it

    def finish(self, outcomes: list[Outcome]) -> None:
        try:
            self.future.set_result(merge(self.count, outcomes, self.errors) if self.errors else outcomes)
        except InvalidStateError:  # the caller gave up (asyncio.wrap_future cancels it): the others still hear
            log.info("an ingest caller had cancelled before its outcome")

    def fail(self, exc: BaseException) -> None:
        try:
            self.future.set_exception(exc)
        except InvalidStateError:
            log.info("an ingest caller had cancelled before its failure")


def process_in_transaction(engine: Engine, runtime: Runtime, prepared: list[PreparedChange],
                           cache: RecordCache | None = None, bindings: BindingCache | None = None,
                           checker: DuplicateChecker | None = None,
                           guard: Callable[[Connection], None] | None = None) -> list[Outcome]:
    """Run one batch in one transaction, retrying when another writer raced us (PostgreSQL, many workers).
    `guard` runs first inside the transaction (scale mode's lease fence) and may raise to refuse the commit."""
    cache = cache if cache is not None else RecordCache(0)
    bindings = bindings if bindings is not None else BindingCache(0)
    for attempt in range(RETRIES):
        try:
            with engine.begin() as conn:
                if guard is not None:
                    guard(conn)
                sync_ownership(conn, runtime)  # an activated ownership version reaches every writer within ~1 s
                sync_mappings(conn, runtime)  # and an activated mapping version the router's outbound mapping
                processor = BatchProcessor(runtime, conn, cache=cache, bindings=bindings, checker=checker)
                outcomes = processor.run(prepared)
                seal_batch(conn, processor.writes.changes)
            cache.put_many(processor.records.values())  # only after the commit succeeded
            if processor.binder is not None:
                processor.binder.committed()
            if checker is not None:
                checker.committed()
            return outcomes
        except (ConcurrencyConflict, IntegrityError) as exc:
            cache.clear()
            bindings.clear()
            if checker is not None:
                checker.forget()  # it saw this batch's uncommitted records
            if attempt == RETRIES - 1:
                raise
            log.info("retrying batch after write race: %s", type(exc).__name__)
        except BaseException:
            cache.clear()
            bindings.clear()  # records of a failed batch may have been read under a transaction that rolled back
            if checker is not None:
                checker.forget()
            raise
    raise AssertionError("unreachable")


def prepare_all(runtime: Runtime, changes: list[ChangeCreate]) -> tuple[list[PreparedChange], dict[int, ChangeError]]:
    prepared: list[PreparedChange] = []
    errors: dict[int, ChangeError] = {}
    for i, change in enumerate(changes):
        try:
            prepared.append(prepare(runtime, change))
        except Rejected as exc:
            errors[i] = exc.error
    return prepared, errors


def merge(count: int, prepared_results: list[Outcome], errors: dict[int, ChangeError]) -> list[Outcome]:
    results = iter(prepared_results)
    return [errors[i] if i in errors else next(results) for i in range(count)]


class IngestService:
    """The durable front door for changes; thread-safe; one writer thread per process."""

    def __init__(self, engine: Engine, runtime: Runtime, max_batch: int = 512, online_check: bool = True,
                 checkpointer: Checkpointer | None = None, max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        self.engine = engine
        self.runtime = runtime
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # C: a third of Queue's cost per job
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.committed = 0
        self.overlapped = 0  # commits run beside the next batch's work (ingest/pipeline.py)
        self.redone = 0  # times the pipelined writer fell back to the serial path (a failure or a write race)
        self.stopped_by: BaseException | None = None  # set if the writer thread died of a defect
        self.cache = RecordCache()
        self.bindings = BindingCache()
        # Accounts only: a contact's account reference is resolved after the check would run, and its exact
        # key (email) already links the common case (docs/decisions/022).
        self.checker = DuplicateChecker(entities=frozenset({"account"})) if online_check else None
        self.checkpointer = checkpointer or Checkpointer(engine)
        self.waiting = WaitingCount(max_waiting)  # outside callers are refused (`admit`) beyond it

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="concord-ingest-writer", daemon=True)
            self._thread.start()
            self.checkpointer.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
            self.checkpointer.stop()

    def submit(self, changes: list[ChangeCreate]) -> Future[list[Outcome]]:
        """Validate now (a bad change never reaches the writer); the future holds one outcome per change."""
        sync_mappings_now(self.engine, self.runtime)  # inbound mapping happens here, before the writer's sync
        prepared, errors = prepare_all(self.runtime, changes)
        future: Future[list[Outcome]] = Future()
        if not prepared:
            future.set_result(merge(len(changes), [], errors))
            return future
        link = handoff_link("ingest.submit", {"concord.changes": len(changes), "concord.refused": len(errors)})
        self._enqueue(_Job(prepared, future, errors, len(changes), link))
        return future

    def admit(self, changes: list[ChangeCreate]) -> Future[list[Outcome]]:
        """`submit` for an outside caller (the HTTP change routes): raises `IngestOverloaded`, with nothing
        queued, while the queue holds its limit of changes or more (docs/decisions/086)."""
        self.waiting.admit(len(changes))
        return self.submit(changes)

    def submit_prepared(self, prepared: list[PreparedChange]) -> Future[list[Outcome]]:
        """For changes Concord builds itself (steward approvals, workflows): already canonical and valid."""
        future: Future[list[Outcome]] = Future()
        self._enqueue(_Job(prepared, future, {}, len(prepared)))
        return future

    def ingest(self, changes: list[ChangeCreate]) -> list[Outcome]:
        return self.submit(changes).result()

    def _run(self) -> None:
        PipelinedWriter(self).run()

    def take(self, block: bool) -> tuple[list[_Job], bool]:
        """The jobs queued now, up to `max_batch` changes (waiting for the first when `block`); and whether a
        stop was asked for (the jobs taken are still committed first)."""
        try:
            first = self._queue.get() if block else self._queue.get_nowait()
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        jobs = [first]
        size, stopping = len(first.prepared), False
        while size < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                stopping = True
                break
            jobs.append(nxt)
            size += len(nxt.prepared)
        self.waiting.taken(size)
        return jobs, stopping

    def _enqueue(self, job: _Job) -> None:
        self.waiting.queued(len(job.prepared))
        self._queue.put(job)
        if self.stopped_by is not None:  # the writer died: answer now (also what slipped in as it died)
            self.fail_waiting(self.stopped_by)

    def writer_stopped(self, exc: BaseException) -> None:
        """The writer thread ended on a defect: every caller, waiting or to come, hears it instead of hanging."""
        self.stopped_by = exc
        self.fail_waiting(exc)

    def fail_waiting(self, exc: BaseException) -> None:
        """Answer every job still queued with `exc` (the writer cannot take them any more)."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self.waiting.taken(len(job.prepared))
                job.fail(exc)

    def commit_serially(self, jobs: list[_Job]) -> None:
        """One transaction for `jobs` (retried on a write race); a failing one is isolated from the others."""
        prepared = [p for job in jobs for p in job.prepared]
        try:
            links = [job.link for job in jobs if job.link is not None]
            with span("ingest.commit", {"concord.changes": len(prepared)}, links=links), \
                    log_context(tenant=_tenant_of(prepared), step="ingest.commit"):
                outcomes = process_in_transaction(self.engine, self.runtime, prepared, self.cache, self.bindings,
                                                  self.checker)
        except Exception as exc:  # the writer thread must outlive any one bad batch
            if len(jobs) > 1:  # isolate the job that fails so the others still commit
                for job in jobs:
                    self.commit_serially([job])
                return
            log.exception("ingest batch failed")
            jobs[0].fail(exc)
            return
        self.answer(jobs, outcomes)

    def answer(self, jobs: list[_Job], outcomes: list[Outcome]) -> None:
        """After their commit: count the batch and resolve each job's future with its share of `outcomes`."""
        self.batches += 1
        self.committed += len(outcomes)
        self.waiting.committed(len(outcomes))
        start = 0
        for job in jobs:
            job.finish(outcomes[start:start + len(job.prepared)])  # a caller that gave up is skipped
            start += len(job.prepared)

