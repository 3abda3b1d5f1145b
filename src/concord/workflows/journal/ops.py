"""What workflow code calls: declare workflows and steps, start and await runs, send and receive messages.

These reach the executor of the launched engine (one per process, like the engine itself). Inside a run they
are durable operations; outside one, a step is a plain call (with its retries) and a send is a plain insert.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar

from concord.workflows.journal.records import (
    EngineStopped,
    RunStatus,
    StepRecord,
    StepRetriesExhausted,
    dump,
    dump_error,
    load,
    load_error,
)
from concord.workflows.journal.runtime import Executor, RunState, Workflow, current, register
from concord.workflows.journal.store import StepRow

P = ParamSpec("P")
R = TypeVar("R")
In = TypeVar("In")
Out = TypeVar("Out")

_lock = threading.Lock()
_executor: Executor | None = None


class NotLaunched(RuntimeError):
    """A workflow operation ran while no workflow engine is launched in this process."""


def activate(executor: Executor | None) -> None:
    """Make `executor` the process's (None: none). Called by the engine at launch and destroy."""
    global _executor
    with _lock:
        if executor is not None and _executor is not None:
            raise RuntimeError("a workflow executor is already active in this process")
        _executor = executor


def active() -> Executor | None:
    return _executor


def executor() -> Executor:
    """Inside a run, the run's own executor (a thread that outlived its engine must not write into the next
    one); elsewhere the process's."""
    state = current.get()
    if state is not None:
        if state.executor.stopping.is_set():
            raise EngineStopped()
        return state.executor
    found = _executor
    if found is None:
        raise NotLaunched("no workflow engine is launched in this process")
    return found


# -- declaring -----------------------------------------------------------------------------------------------
def workflow(name: str) -> Callable[[Callable[[In], Out]], Workflow[In, Out]]:
    """Register a workflow of one input under `name` (the name is stored with each run: keep it stable)."""
    def declare(fn: Callable[[In], Out]) -> Workflow[In, Out]:
        return register(name, fn)

    return declare


def step(name: str, attempts: int = 1, interval_s: float = 1.0, backoff: float = 2.0,
         retry_on: Callable[[BaseException], bool] | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A durable step: inside a run its outcome (result or error) is recorded once and replayed on recovery.
    Errors `retry_on` accepts are retried (`attempts` in all, sleeping `interval_s` * `backoff`^n between);
    running out raises `StepRetriesExhausted`, which is recorded like any other outcome."""
    def declare(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            state = current.get()
            if state is None or state.in_step:  # outside a run, or a step inside a step: a plain call
                return _attempt(lambda: fn(*args, **kwargs), name, attempts, interval_s, backoff, retry_on, None)
            seq, row = state.next(name)
            if row is None:
                row = _run_step(state, seq, name, lambda: fn(*args, **kwargs), attempts, interval_s, backoff,
                                retry_on)
            if row.error is not None:
                raise load_error(row.error)
            result: R = load(row.output)
            return result

        return call

    return declare


def _run_step(state: RunState, seq: int, name: str, thunk: Callable[[], Any], attempts: int, interval_s: float,
              backoff: float, retry_on: Callable[[BaseException], bool] | None) -> StepRow:
    if state.executor.stopping.is_set():  # a run resumed while the engine stops: act no more
        raise EngineStopped()
    state.in_step = True
    try:
        output, error = dump(_attempt(thunk, name, attempts, interval_s, backoff, retry_on, state)), None
    except Exception as exc:  # the step's outcome is this error: recorded, then raised (now and on replay)
        output, error = None, dump_error(exc)
    finally:
        state.in_step = False
    store = state.executor.store
    if state.executor.stopping.is_set():  # nothing is recorded once stopping began: the next launch redoes it
        raise EngineStopped()
    winner = store.append_step(state.workflow_id, seq, name, output, error)
    return winner or StepRow(seq, name, output, error, time.time())


def _attempt(thunk: Callable[[], R], name: str, attempts: int, interval_s: float, backoff: float,
             retry_on: Callable[[BaseException], bool] | None, state: RunState | None) -> R:
    errors: list[BaseException] = []
    delay = interval_s
    while True:
        try:
            return thunk()
        except Exception as exc:
            if retry_on is None or not retry_on(exc):
                raise
            errors.append(exc)
            if len(errors) >= attempts:
                raise StepRetriesExhausted(name, attempts, errors) from exc
        owner = state.executor if state is not None else _executor
        if owner is None:
            time.sleep(delay)
        elif owner.stopping.wait(delay):
            raise EngineStopped()
        delay *= backoff


# -- inside a run ----------------------------------------------------------------------------------------------
def current_workflow_id() -> str | None:
    state = current.get()
    return None if state is None else state.workflow_id


def recv(topic: str, timeout_s: float) -> Any:
    """Inside a run: the next message sent to this run on `topic`, or None after `timeout_s` — recorded, so a
    resumed run receives the same thing (or the same nothing)."""
    state = current.get()
    if state is None or state.in_step:
        raise RuntimeError("recv() is for workflow bodies, not steps or plain code")
    seq, row = state.next("recv")
    if row is not None:
        return load(row.output)
    run, store = state.executor, state.executor.store
    deadline = time.monotonic() + timeout_s
    while True:
        timed_out = time.monotonic() >= deadline
        if timed_out or store.has_message(state.workflow_id, topic):
            taken = store.receive(state.workflow_id, topic, seq, "recv", timed_out)
            if taken is not None:
                return load(taken.output)
        run.await_mail(state.workflow_id, topic, max(0.0, deadline - time.monotonic()))


def send(workflow_id: str, topic: str, message: Any) -> bool:
    """Send `message` to a run on `topic` (False: no such run, or it has finished). From a run's body the send
    is recorded with its answer: a resumed run does not send it again and gets the same answer."""
    run = executor()
    state = current.get()
    journal = None
    if state is not None and not state.in_step:
        seq, row = state.next("send")
        if row is not None:
            return True if row.output is None else bool(load(row.output))
        journal = (state.workflow_id, seq, "send")
    sent = run.store.send(workflow_id, topic, dump(message), journal)
    if sent:
        run.delivered(workflow_id, topic)
    return sent


# -- runs --------------------------------------------------------------------------------------------------------
class RunHandle(Generic[Out]):
    """A run started (or found) by id."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id

    def get_result(self, timeout_s: float | None = None) -> Out:
        result: Out = executor().result(self.workflow_id, timeout_s)
        return result

    def get_status(self) -> RunStatus | None:
        return run_status(self.workflow_id)


def start_workflow(flow: Workflow[In, Out], payload: In, workflow_id: str) -> RunHandle[Out]:
    """Start `flow(payload)` under `workflow_id`, its business key; an existing run with that id is returned
    untouched (its input wins). From a run's body the new run is its child."""
    executor().start(flow, payload, workflow_id)
    return RunHandle(workflow_id)


def run_workflow(flow: Workflow[In, Out], payload: In, workflow_id: str) -> Out:
    """Run `flow(payload)` under `workflow_id` in this thread and return its output (an existing run with that
    id is awaited instead)."""
    return executor().run_here(flow, payload, workflow_id)


def result_of(workflow_id: str, timeout_s: float | None = None) -> Any:
    return executor().result(workflow_id, timeout_s)


def run_status(workflow_id: str) -> RunStatus | None:
    row = executor().store.run(workflow_id)
    return None if row is None else RunStatus(row)


def list_runs(statuses: Sequence[str] | None = None, prefixes: str | Sequence[str] | None = None,
              name: str | None = None) -> list[RunStatus]:
    """Runs by status, id prefix(es) and name, oldest first."""
    wanted = [prefixes] if isinstance(prefixes, str) else prefixes
    return [RunStatus(r) for r in executor().store.runs(statuses, wanted, name)]


def steps_of(workflow_id: str) -> list[StepRecord]:
    return [StepRecord(s.seq, s.name, s.error is not None, s.at) for s in executor().store.steps(workflow_id)]
