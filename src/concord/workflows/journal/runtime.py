"""The executor: runs workflows in threads, records each step once, recovers unfinished runs at launch.

A run is a thread executing the workflow function with a `RunState` in a context variable. Each durable
operation the body performs (a step, a receive, a send) takes the next sequence number; a fresh run appends
its outcome, a resumed run first finds it in the journal it loaded at start and returns the recorded outcome
instead of acting again. Child runs are started by id (the business key), so a replay finds the child that
exists rather than starting another; waiting for a run's result needs no record either, because a finished
run's outcome never changes.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from concord.workflows.journal.db import JournalUnavailable
from concord.workflows.journal.liveness import dead_owners, host_name
from concord.workflows.journal.records import (
    EngineStopped,
    JournalMismatch,
    RunStatus,
    dump,
    dump_error,
    load,
)
from concord.workflows.journal.store import ERROR, SUCCESS, JournalStore, StepRow

In = TypeVar("In")
Out = TypeVar("Out")
log = logging.getLogger(__name__)


class Workflow(Generic[In, Out]):
    """A registered workflow: a name (stored with each run, used to find the code again on recovery) and a
    function of one input."""

    def __init__(self, name: str, fn: Callable[[In], Out]) -> None:
        self.name = name
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r})"


_registry: dict[str, Workflow[Any, Any]] = {}


def register(name: str, fn: Callable[[In], Out]) -> Workflow[In, Out]:
    existing = _registry.get(name)
    if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
        raise ValueError(f"two workflows are named {name!r}: {existing.fn.__qualname__} and {fn.__qualname__}")
    flow = Workflow(name, fn)
    _registry[name] = flow
    return flow


def tenant_of(payload: object) -> str | None:
    """The tenant a run serves, for the metrics: its input names it, or holds the run context that does."""
    for holder in (payload, getattr(payload, "run", None)):
        tenant = getattr(holder, "tenant", None)
        if isinstance(tenant, str):
            return tenant
    return None


@dataclass
class RunState:
    """The run this thread executes: where it is in its journal."""

    executor: Executor
    workflow_id: str
    recorded: dict[int, StepRow] = field(default_factory=dict)
    seq: int = 0
    in_step: bool = False

    def next(self, name: str) -> tuple[int, StepRow | None]:
        """The next operation's sequence number and its recorded outcome, if a previous execution got there."""
        self.seq += 1
        row = self.recorded.get(self.seq)
        if row is not None and row.name != name:
            raise JournalMismatch(f"run {self.workflow_id}: operation {self.seq} is {name!r} now but the journal "
                                  f"recorded {row.name!r}")
        return self.seq, row


current: contextvars.ContextVar[RunState | None] = contextvars.ContextVar("concord_run", default=None)


class Executor:
    """One per process while the workflow engine is launched."""

    def __init__(self, store: JournalStore, executor_id: str = "local", message_poll_s: float = 1.0,
                 max_recovery_attempts: int = 100, heartbeat_s: float = 2.0, ttl_s: float = 10.0) -> None:
        self.store = store
        self.host, self.pid = host_name(), os.getpid()
        # One id per executor instance: runs are owned by the process executing them, not by a name two
        # processes could share.
        self.executor_id = f"{executor_id}:{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.message_poll_s = message_poll_s
        self.max_recovery_attempts = max_recovery_attempts
        self.heartbeat_s = heartbeat_s
        self.ttl_s = ttl_s
        self.stopping = threading.Event()
        self._beat: threading.Thread | None = None
        self._lock = threading.Lock()
        self._live: dict[str, Future[Any]] = {}
        self._threads: list[threading.Thread] = []
        self._mail = threading.Condition()
        self._delivered: set[tuple[str, str]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def launch(self) -> int:
        """Create the schema, register, and resume the unfinished runs of dead executors (a restarted process's
        own earlier incarnation included); returns how many were resumed. A heartbeat thread keeps this executor
        alive for the others and adopts the runs of executors that die later."""
        self.store.create_schema()
        self.store.register_executor(self.executor_id, self.host, self.pid)
        adopted = self.adopt()
        self._beat = threading.Thread(target=self._heartbeat, name="journal-heartbeat", daemon=True)
        self._beat.start()
        return adopted

    def adopt(self) -> int:
        """Take over and resume the unfinished runs of dead executors; returns how many."""
        if self.stopping.is_set():
            return 0
        executors = self.store.executors()
        known = sorted({*self.store.pending_owners(), *(e.executor_id for e in executors)})
        dead = dead_owners(known, executors, self.executor_id, self.host, self.pid, self.ttl_s, time.time())
        claimed = self.store.claim_orphans(self.executor_id, dead, sorted(_registry), self.max_recovery_attempts)
        self.store.forget_executors(dead)
        resumable = [(_registry[row.name], row.workflow_id, load(row.input)) for row in claimed]
        # Every resumed run is live before any starts: a resumed parent then waits on its resumed children's
        # futures instead of polling the database for them.
        futures = [self._claim(wid) for _, wid, _ in resumable]
        for (flow, wid, payload), future in zip(resumable, futures, strict=True):
            recorded = {s.seq: s for s in self.store.steps(wid)}
            self._spawn(flow, wid, payload, recorded, future)
        return len(resumable)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Runs stop at their next durable operation (unrecorded); deregistering hands them to the next live
        executor (or the next launch)."""
        self.stopping.set()
        with self._mail:
            self._mail.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in [*self._threads, *([self._beat] if self._beat else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            # A run still inside a step could yet act; our row stays so nobody takes its runs over before the
            # TTL (it records nothing more: stopping is set).
            log.warning("workflow runs still busy after %.0f s; their takeover waits for the TTL", timeout_s)
            return
        with contextlib.suppress(JournalUnavailable):  # the journal is gone: our row ages out
            self.store.remove_executor(self.executor_id)

    def _heartbeat(self) -> None:
        while not self.stopping.wait(self.heartbeat_s):
            try:
                if not self.store.heartbeat(self.executor_id):
                    log.warning("executor %s was taken for dead (no heartbeat within %.0f s): its runs may have "
                                "been taken over; registering again", self.executor_id, self.ttl_s)
                    self.store.register_executor(self.executor_id, self.host, self.pid)
                self.adopt()
            except JournalUnavailable as exc:
                log.warning("workflow journal heartbeat failed: %s", exc)

    # -- starting and awaiting runs ------------------------------------------------------------------------
    def start(self, flow: Workflow[In, Out], payload: In, workflow_id: str) -> None:
        """Start a run under `workflow_id` unless one exists (then nothing happens: its input wins)."""
        self._check_running()
        parent = current.get()
        if self.store.insert_run(workflow_id, flow.name, dump(payload), parent.workflow_id if parent else None,
                                 self.executor_id, tenant_of(payload)):
            self._spawn(flow, workflow_id, payload, {}, self._claim(workflow_id))

    def run_here(self, flow: Workflow[In, Out], payload: In, workflow_id: str) -> Out:
        """Run in the calling thread (a new run), or wait for the run that holds the id."""
        self._check_running()
        parent = current.get()
        if not self.store.insert_run(workflow_id, flow.name, dump(payload), parent.workflow_id if parent else None,
                                     self.executor_id, tenant_of(payload)):
            result: Out = self.result(workflow_id)
            return result
        future = self._claim(workflow_id)
        context = contextvars.Context()  # the caller may itself be a run: this one has its own state
        context.run(self._execute, flow, workflow_id, payload, {}, future)
        output: Out = future.result()
        return output

    def result(self, workflow_id: str, timeout_s: float | None = None) -> Any:
        """The run's output (its error raised), waiting for it to finish."""
        with self._lock:
            future = self._live.get(workflow_id)
        if future is not None:
            return future.result(timeout_s)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pause = 0.01
        while True:
            row = self.store.run(workflow_id)
            if row is None:
                raise KeyError(f"no run {workflow_id}")
            status = RunStatus(row)
            if status.finished:
                return status.outcome()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {workflow_id} is still running")
            with self._lock:  # it may have been started here since
                future = self._live.get(workflow_id)
            if future is not None:
                return future.result(timeout_s)
            if self.stopping.wait(pause):
                raise EngineStopped()
            pause = min(pause * 2, self.message_poll_s)

    # -- running -------------------------------------------------------------------------------------------
    def _claim(self, workflow_id: str) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._live[workflow_id] = future
        return future

    def _spawn(self, flow: Workflow[Any, Any], workflow_id: str, payload: Any, recorded: dict[int, StepRow],
               future: Future[Any]) -> None:
        thread = threading.Thread(target=contextvars.Context().run, name=f"run:{workflow_id}", daemon=True,
                                  args=(self._execute, flow, workflow_id, payload, recorded, future))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _execute(self, flow: Workflow[Any, Any], workflow_id: str, payload: Any, recorded: dict[int, StepRow],
                 future: Future[Any]) -> None:
        current.set(RunState(self, workflow_id, recorded))
        try:
            try:
                output = flow.fn(payload)
            except Exception as error:  # the run failed: that is its outcome — unless the engine is stopping,
                if self.stopping.is_set():  # when the failure may be the shutdown's (services disposed)
                    raise EngineStopped() from error
                self._finish(workflow_id, future, ERROR, None, error)
            else:
                self._finish(workflow_id, future, SUCCESS, output, None)
        except BaseException as stopped:  # stopping, the journal closed, an interpreter exit: stays pending
            if not isinstance(stopped, EngineStopped | JournalUnavailable):
                log.warning("run %s stopped unrecorded: %r (resumed later)", workflow_id, stopped)
            if not future.done():
                future.set_exception(stopped)
        finally:
            with self._lock:
                if self._live.get(workflow_id) is future:
                    del self._live[workflow_id]
            with self._mail:
                self._delivered = {key for key in self._delivered if key[0] != workflow_id}

    def _finish(self, workflow_id: str, future: Future[Any], status: str, output: Any,
                error: BaseException | None) -> None:
        """Record the outcome and hand it to waiters — the stored one, if another executor finished first."""
        recorded = self.store.finish_run(workflow_id, status, None if error else dump(output),
                                         dump_error(error) if error else None)
        if not recorded:
            row = self.store.run(workflow_id)
            try:
                future.set_result(RunStatus(row).outcome() if row else output)
            except Exception as stored:
                future.set_exception(stored)
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(output)

    def _check_running(self) -> None:
        if self.stopping.is_set():
            raise EngineStopped()

    # -- messages ------------------------------------------------------------------------------------------
    def delivered(self, workflow_id: str, topic: str) -> None:
        with self._mail:
            self._delivered.add((workflow_id, topic))
            self._mail.notify_all()

    def await_mail(self, workflow_id: str, topic: str, timeout_s: float) -> None:
        """Sleep until a local send to this inbox, the poll interval (sends from other processes) or timeout."""
        key = (workflow_id, topic)
        with self._mail:
            if key not in self._delivered and not self.stopping.is_set():
                self._mail.wait(min(timeout_s, self.message_poll_s))
            self._delivered.discard(key)
        if self.stopping.is_set():
            raise EngineStopped()

