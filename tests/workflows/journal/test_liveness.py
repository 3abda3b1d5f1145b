"""Executors take over the runs of dead ones: pure liveness rules, and a real worker process SIGKILLed mid-step
whose run a live executor in another process adopts without restarting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.workflows.journal import flows
from tests.workflows.journal.conftest import Launch

from concord.workflows.journal import result_of, run_status
from concord.workflows.journal.liveness import dead_owners, pid_alive
from concord.workflows.journal.store import ExecutorRow

ROOT = Path(__file__).resolve().parents[3]


def _row(executor_id: str, host: str = "h1", pid: int = 10, heartbeat_at: float = 100.0) -> ExecutorRow:
    return ExecutorRow(executor_id, host, pid, 0.0, heartbeat_at)


def test_who_is_dead() -> None:
    rows = [_row("fresh"), _row("stale", heartbeat_at=80.0), _row("elsewhere", host="h2", pid=11),
            _row("exited", pid=12), _row("earlier-me", pid=99)]
    owners = ["me", "fresh", "stale", "elsewhere", "exited", "earlier-me", "deregistered"]
    dead = dead_owners(owners, rows, me="me", host="h1", pid=99, ttl_s=10, now=105.0, alive=lambda p: p != 12)
    # stale heartbeat; same host, process gone; same host and our own pid (a restarted container); no row at all
    assert dead == ["stale", "exited", "earlier-me", "deregistered"]


def test_pid_alive_sees_this_process_and_not_a_reaped_one() -> None:
    assert pid_alive(os.getpid())
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)


def test_a_live_executor_adopts_the_run_of_a_worker_killed_mid_step(launch: Launch, journal_url: str,
                                                                    tmp_path: Path) -> None:
    assert flows.released.name == "test-journal-takeover"  # registered here too: this process can resume it
    executor = launch(heartbeat_s=0.2, ttl_s=30)
    release = str(tmp_path / "release")
    wid = f"takeover:{tmp_path.name}"
    worker = subprocess.Popen([sys.executable, "-m", "tests.workflows.journal.takeover_worker", journal_url, wid,
                               release], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = worker.stdout.readline() if worker.stdout else ""
        assert line.startswith("ready"), line
        worker_id = line.split()[1]
        assert executor.adopt() == 0  # the worker is alive: its run is not taken
        status = run_status(wid)
        assert status is not None and status.executor_id == worker_id
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    Path(release).touch()
    # No restart: this executor's heartbeat finds the worker's process gone (same host) and adopts its run.
    assert result_of(wid, timeout_s=30) == "released and finished"
    status = run_status(wid)
    assert status is not None and status.executor_id == executor.executor_id and status.recovery_attempts == 1
    assert Path(release + ".entered").read_text().count("entered") == 2  # cut off once, run again once
    # The dead worker's row is dropped once it owns nothing; the live executor's stays.
    assert {e.executor_id for e in executor.store.executors()} == {executor.executor_id}
