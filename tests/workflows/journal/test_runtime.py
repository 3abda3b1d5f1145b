"""The journal's guarantees, each on SQLite and PostgreSQL: a resumed run does not repeat a recorded step, a
send or a receive; recorded errors replay as errors; a changed workflow fails instead of guessing; a run that
never finishes is given up; runs stopped mid-way stay pending and resume."""

from __future__ import annotations

import logging
import pickle
import sqlite3
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from pydantic import BaseModel
from tests.workflows.journal.conftest import Launch

from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.journal import (
    EngineStopped,
    JournalClient,
    JournalMismatch,
    RunAbandoned,
    StepRetriesExhausted,
    current_workflow_id,
    list_runs,
    ops,
    recv,
    result_of,
    run_status,
    run_workflow,
    send,
    start_workflow,
    step,
    steps_of,
    workflow,
)
from concord.workflows.journal.db import open_db
from concord.workflows.journal.runtime import Executor, current
from concord.workflows.journal.store import JournalStore
from concord.workflows.services import WorkflowServices

CALLS: Counter[str] = Counter()
GATES: dict[str, threading.Event] = {}


class Job(BaseModel):
    key: str
    fail: bool = False
    flaky: int = 0


class Flaky(Exception):
    pass


@step("j-add", attempts=3, interval_s=0.01, retry_on=lambda e: isinstance(e, Flaky))
def add(job: Job) -> int:
    CALLS[f"{job.key}:add"] += 1
    if CALLS[f"{job.key}:add"] <= job.flaky:
        raise Flaky("busy")
    return 1


def _hold(key: str) -> None:
    """Block until the test opens the gate; a stopping executor cuts the wait off as a crash would."""
    state = current.get()
    assert state is not None
    executor = state.executor  # the run's own (a test may run two executors)
    gate = GATES.setdefault(key, threading.Event())
    while not gate.wait(0.02):
        if executor.stopping.is_set():
            raise EngineStopped()


@step("j-gate")
def gate(job: Job) -> int:
    CALLS[f"{job.key}:gate"] += 1
    _hold(job.key)
    return 10


@step("j-refuse")
def refuse(job: Job) -> int:
    CALLS[f"{job.key}:refuse"] += 1
    raise ValueError(f"refused {job.key}")


@workflow("test-journal-steps")
def steps_flow(job: Job) -> int:
    total = add(job)
    if job.fail:
        try:
            refuse(job)
        except ValueError:
            total += 100
    return total + gate(job) + add(job)


@workflow("test-journal-mail")
def mail_flow(job: Job) -> list[object]:
    first = recv("topic", 30)
    if job.fail:
        send(f"mail:{job.key}:peer", "topic", "hello")
    second = recv("other", 0.2)  # times out: None is recorded
    _hold(job.key)
    return [first, second, current_workflow_id()]


@workflow("test-journal-child")
def child_flow(job: Job) -> str:
    CALLS[f"{job.key}:child"] += 1
    return f"child of {job.key}"


@workflow("test-journal-parent")
def parent_flow(job: Job) -> str:
    handle = start_workflow(child_flow, job, f"{job.key}/child")
    return handle.get_result() + "!"


def _key() -> str:
    return uuid.uuid4().hex


def _wait(what: str, check: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_records_each_step_once_and_the_business_key_is_the_run(launch: Launch) -> None:
    launch()
    key = _key()
    GATES[key] = threading.Event()
    GATES[key].set()
    assert run_workflow(steps_flow, Job(key=key, flaky=1), f"wf:{key}") == 12
    assert run_workflow(steps_flow, Job(key=key), f"wf:{key}") == 12  # the first run's answer
    assert CALLS[f"{key}:add"] == 3 and CALLS[f"{key}:gate"] == 1  # one Flaky retry, then two adds
    assert [s.name for s in steps_of(f"wf:{key}")] == ["j-add", "j-gate", "j-add"]
    status = run_status(f"wf:{key}")
    assert status is not None and status.status == "SUCCESS" and status.output == 12
    assert status.input == Job(key=key, flaky=1)  # the first start's input wins


def test_a_stopped_run_resumes_without_repeating_recorded_steps_or_errors(launch: Launch) -> None:
    launch()
    key = _key()
    GATES[key] = threading.Event()
    start_workflow(steps_flow, Job(key=key, fail=True), f"wf:{key}")
    _wait("the run to reach the gate", lambda: CALLS[f"{key}:gate"] == 1)
    launch()  # the old executor stops: the gate step is cut off unrecorded; the new one resumes the run
    GATES[key].set()
    assert result_of(f"wf:{key}", timeout_s=30) == 112
    assert CALLS[f"{key}:add"] == 2  # the first add replayed from the journal, the last one ran once
    assert CALLS[f"{key}:refuse"] == 1  # the recorded error was raised again, not re-run
    assert CALLS[f"{key}:gate"] == 2  # unrecorded when stopped: run again
    status = run_status(f"wf:{key}")
    assert status is not None and status.recovery_attempts == 1


def test_exhausted_retries_are_an_outcome_of_the_step(launch: Launch) -> None:
    launch()
    key = _key()
    GATES[key] = threading.Event()
    GATES[key].set()
    with pytest.raises(StepRetriesExhausted) as failed:
        run_workflow(steps_flow, Job(key=key, flaky=5), f"wf:{key}")
    assert failed.value.attempts == 3 and len(failed.value.errors) == 3
    status = run_status(f"wf:{key}")
    assert status is not None and status.status == "ERROR" and isinstance(status.error, StepRetriesExhausted)
    with pytest.raises(StepRetriesExhausted):
        result_of(f"wf:{key}")


def test_a_changed_workflow_fails_at_the_first_step_that_differs(launch: Launch) -> None:
    executor = launch()
    key = _key()
    wid = f"wf:{key}"
    executor.store.insert_run(wid, "test-journal-steps", pickle.dumps(Job(key=key)), None, "local")
    executor.store.append_step(wid, 1, "some-old-step", pickle.dumps(1), None)
    launch()
    with pytest.raises(JournalMismatch, match="some-old-step"):
        result_of(wid, timeout_s=30)
    assert CALLS[f"{key}:add"] == 0


def test_messages_are_received_once_and_a_resumed_run_neither_resends_nor_rereceives(launch: Launch,
                                                                                    journal_url: str) -> None:
    launch()
    key = _key()
    wid, peer = f"mail:{key}", f"mail:{key}:peer"
    GATES[key], GATES[f"{key}p"] = threading.Event(), threading.Event()
    start_workflow(mail_flow, Job(key=key, fail=True), wid)
    start_workflow(mail_flow, Job(key=f"{key}p"), peer)
    assert send(wid, "topic", {"n": 1}) and send(wid, "topic", {"n": 2})
    assert not send(f"mail:{_key()}", "topic", 1)  # no such run: refused, not stored
    _wait("the receive and the timeout to be recorded", lambda: len(steps_of(wid)) == 3)
    launch()  # restart while the run waits at its gate
    GATES[key].set()
    first, second, own_id = result_of(wid, timeout_s=30)
    assert first == {"n": 1} and second is None and own_id == wid
    assert [s.name for s in steps_of(wid)] == ["recv", "send", "recv"]
    GATES[f"{key}p"].set()
    assert result_of(peer, timeout_s=30)[0] == "hello"  # sent once, before the restart, received once
    client = JournalClient(journal_url)
    try:
        assert [r.workflow_id for r in client.runs([f"mail:{key}"])] == [wid, peer]
    finally:
        client.close()


def test_a_message_from_another_process_wakes_a_waiting_run(launch: Launch, journal_url: str) -> None:
    launch(message_poll_s=0.1)
    key = _key()
    GATES[key] = threading.Event()
    GATES[key].set()
    start_workflow(mail_flow, Job(key=key), f"mail:{key}")
    client = JournalClient(journal_url)  # the CLI's way: its own connection, no executor
    try:
        _wait("the run to exist", lambda: run_status(f"mail:{key}") is not None)
        assert client.send(f"mail:{key}", "topic", "from the cli")
    finally:
        client.close()
    assert result_of(f"mail:{key}", timeout_s=30)[0] == "from the cli"


def test_children_are_started_once_by_id_and_know_their_parent(launch: Launch) -> None:
    launch()
    key = _key()
    assert run_workflow(parent_flow, Job(key=key), f"p:{key}") == f"child of {key}!"
    child = run_status(f"{key}/child")
    assert child is not None and child.parent_workflow_id == f"p:{key}" and child.status == "SUCCESS"
    assert run_workflow(parent_flow, Job(key=key), f"p2:{key}") == f"child of {key}!"  # same child id: reused
    assert CALLS[f"{key}:child"] == 1


def test_a_run_that_never_finishes_is_given_up(launch: Launch) -> None:
    launch(max_recovery_attempts=2)
    key = _key()
    GATES[key] = threading.Event()
    start_workflow(steps_flow, Job(key=key), f"wf:{key}")
    _wait("the gate", lambda: CALLS[f"{key}:gate"] == 1)
    for attempt in (1, 2):  # each launch counts one recovery attempt; the third finds the limit reached
        launch(max_recovery_attempts=2)
        _wait("the resumed run at the gate", lambda n=attempt: CALLS[f"{key}:gate"] == n + 1)  # type: ignore[misc]
    launch(max_recovery_attempts=2)
    status = run_status(f"wf:{key}")
    assert status is not None and status.status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    with pytest.raises(RunAbandoned):
        result_of(f"wf:{key}")
    GATES[key].set()


def test_runs_are_listed_by_exact_prefix_and_status(launch: Launch) -> None:
    launch()
    key = _key()
    for suffix in ("a_1", "A_1", "a%2"):
        run_workflow(child_flow, Job(key=f"{key}{suffix}"), f"list:{key}:{suffix}")
    assert [r.workflow_id for r in list_runs(prefixes=f"list:{key}:a_")] == [f"list:{key}:a_1"]
    assert [r.workflow_id for r in list_runs(prefixes=[f"list:{key}:a%", f"list:{key}:A"])] == \
        [f"list:{key}:A_1", f"list:{key}:a%2"]
    assert list_runs(statuses=["PENDING"], prefixes=f"list:{key}") == []


def test_a_journal_that_cannot_be_written_leaves_the_run_pending_for_the_next_launch(launch: Launch) -> None:
    executor = launch()
    key = _key()
    GATES[key] = threading.Event()
    start_workflow(steps_flow, Job(key=key), f"wf:{key}")
    _wait("the gate", lambda: CALLS[f"{key}:gate"] == 1)
    executor.store.db.close()  # the database goes away under the run
    GATES[key].set()
    _wait("the run to stop", lambda: f"wf:{key}" not in executor._live)
    launch()  # nothing was recorded as the run's outcome: it resumes and finishes
    assert result_of(f"wf:{key}", timeout_s=30) == 12
    assert [s.name for s in steps_of(f"wf:{key}")] == ["j-add", "j-gate", "j-add"]


def test_runs_dbos_left_pending_are_reported_at_launch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'concord.db'}"
    legacy = sqlite3.connect(tmp_path / "concord-workflows.sqlite")  # DBOS's tables shared the file
    legacy.execute("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY, status TEXT)")
    legacy.executemany("INSERT INTO workflow_status VALUES (?, ?)", [("a", "PENDING"), ("b", "SUCCESS")])
    legacy.commit()
    legacy.close()
    services = WorkflowServices(engine=None, runtime=None, connectors={}, policy=None,  # type: ignore[arg-type]
                                duplicates=None, events=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, "concord.workflows.engine"), \
            WorkflowEngine(WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL"), services):
        pass
    assert any("1 workflow runs were left pending by DBOS" in r.getMessage() for r in caplog.records)


@workflow("test-journal-sender")
def sender(job: Job) -> list[bool]:
    answers = [send(f"nobody:{job.key}", "topic", 1), send(f"mail:{job.key}", "topic", 2)]
    _hold(job.key)
    return answers


def test_a_send_is_answered_the_same_on_replay_and_finished_runs_take_no_mail(launch: Launch) -> None:
    launch()
    key = _key()
    GATES[key] = threading.Event()
    GATES[key].set()
    run_workflow(child_flow, Job(key=key), f"mail:{key}")  # finished before anything is sent to it
    GATES[f"{key}s"] = threading.Event()
    start_workflow(sender, Job(key=f"{key}s"), f"send:{key}")
    _wait("both sends recorded", lambda: len(steps_of(f"send:{key}")) == 2)
    launch()
    GATES[f"{key}s"].set()
    assert result_of(f"send:{key}", timeout_s=30) == [False, False]  # the same answers after the restart
    assert not ops.executor().store.has_message(f"mail:{key}", "topic")


def test_an_outcome_stored_by_someone_else_wins_over_this_executors(launch: Launch) -> None:
    executor = launch()
    key = _key()
    GATES[key] = threading.Event()
    start_workflow(steps_flow, Job(key=key), f"wf:{key}")
    _wait("the gate", lambda: CALLS[f"{key}:gate"] == 1)
    run_table = executor.store.t["run"]
    executor.store.db.write(lambda cur: cur.execute(  # e.g. given up by another executor meanwhile
        f"UPDATE {run_table} SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' WHERE workflow_id = ?", (f"wf:{key}",)))
    GATES[key].set()
    with pytest.raises(RunAbandoned):
        result_of(f"wf:{key}", timeout_s=30)


def test_a_run_that_outlives_its_engine_writes_nothing_into_the_next(tmp_path: Path) -> None:
    first = Executor(JournalStore(open_db(f"sqlite:///{tmp_path / 'one.sqlite'}", "NORMAL")))
    ops.activate(first)
    first.launch()
    key = _key()
    GATES[key] = threading.Event()
    start_workflow(stubborn, Job(key=key), f"old:{key}")
    _wait("the run in plain code", lambda: CALLS[f"{key}:stubborn"] == 1)
    first.stop(timeout_s=0.2)  # the run is not at a durable operation: it keeps going
    ops.activate(None)
    second = Executor(JournalStore(open_db(f"sqlite:///{tmp_path / 'two.sqlite'}", "NORMAL")))
    ops.activate(second)
    try:
        second.launch()
        GATES[key].set()  # the old run now sends, starts a child and takes a step: all refused
        _wait("the old run to stop", lambda: CALLS[f"{key}:stubborn-after"] == 1)
        time.sleep(0.2)
        assert second.store.runs() == [] and second.store.steps(f"old:{key}") == []
    finally:
        second.stop(timeout_s=5)
        ops.activate(None)
        second.store.db.close()
        first.store.db.close()


@workflow("test-journal-stubborn")
def stubborn(job: Job) -> None:
    CALLS[f"{job.key}:stubborn"] += 1
    GATES[job.key].wait(30)  # plain code: no durable operation to notice the engine stopping
    CALLS[f"{job.key}:stubborn-after"] += 1
    send(f"old:{job.key}", "topic", 1)
    start_workflow(child_flow, job, f"old:{job.key}/child")


def test_a_failed_launch_does_not_block_the_next(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the database's folder should be")
    services = WorkflowServices(engine=None, runtime=None, connectors={}, policy=None,  # type: ignore[arg-type]
                                duplicates=None, events=None)  # type: ignore[arg-type]
    broken = WorkflowSettings(database_url=f"sqlite:///{tmp_path / 'blocked' / 'concord.db'}")
    with pytest.raises(OSError):
        WorkflowEngine(broken, services).launch()
    with WorkflowEngine(WorkflowSettings(database_url=f"sqlite:///{tmp_path / 'concord.db'}"), services):
        pass


def test_only_runs_that_make_no_progress_between_takeovers_are_given_up(launch: Launch) -> None:
    store = launch().store
    moving, stuck = f"moving:{_key()}", f"stuck:{_key()}"
    for wid in (moving, stuck):
        store.insert_run(wid, "test-journal-steps", pickle.dumps(Job(key=wid)), None, "gone-0")
    for n in range(1, 6):  # five takeovers with a limit of two
        store.append_step(moving, n, "j-add", pickle.dumps(1), None)  # e.g. a waiting run polling its task
        claimed = store.claim_orphans(f"gone-{n}", [f"gone-{n - 1}"], ["test-journal-steps"], max_attempts=2)
        assert moving in [r.workflow_id for r in claimed]
    stuck_status = run_status(stuck)
    moving_status = run_status(moving)
    assert stuck_status is not None and stuck_status.status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    assert moving_status is not None and moving_status.status == "PENDING" and moving_status.recovery_attempts == 1
