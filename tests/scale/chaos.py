"""The chaos harness shared by tests/scale/test_chaos.py and `python -m bench chaos`: `concord worker` processes
SIGKILLed every few seconds (and replaced) and one NATS node stopped and restarted while changes flow."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, text

from concord.ingest.models import ChangeCreate
from concord.scale.bus import ChangeBus
from concord.scale.presence import alive_sql
from concord.scale.runner import open_database
from concord.scale.settings import ScaleSettings
from tests.scale.cluster import NatsCluster
from tests.scale.support import count, scale_env, wait_until

KILL_EVERY_S = 3.0
PUBLISH_OVER_S = 18.0


class WorkerPool:
    """`concord worker` subprocesses; killed ones are replaced so three are (nearly) always running."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = {**os.environ, **env,
                    "CONCORD_LOG_LEVEL": os.environ.get("CONCORD_CHAOS_LOG_LEVEL", "warning")}
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self.crashed: list[str] = []  # workers that exited without being killed: a bug, with its log

    def spawn(self) -> None:
        log = (self.logdir / f"worker-{self.started}.log").open("wb")
        self.started += 1
        self.procs.append(subprocess.Popen([sys.executable, "-m", "concord", "worker"], env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT))

    def worker_id(self, proc: subprocess.Popen[bytes]) -> str:
        return f"{os.uname().nodename}:{proc.pid}"

    def kill_one(self, rng: random.Random, live: set[str]) -> str:
        """SIGKILL a worker that is up (holds its presence), so there is something to take over."""
        running = [p for p in self.procs if self.worker_id(p) in live] or self.procs
        victim = running[rng.randrange(len(running))]
        self.procs.remove(victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        return self.worker_id(victim)

    def reap(self) -> None:
        """Note workers that died on their own (and drop them: the chaos loop replaces them)."""
        for proc in list(self.procs):
            if proc.poll() is not None:
                self.procs.remove(proc)
                self.crashed.append(f"{self.worker_id(proc)} exited {proc.returncode}")

    def stop(self) -> None:
        self.reap()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def takeover_seconds(engine: Engine, dead: str, timeout_s: float = 30.0) -> float:
    """Seconds until no partition is leased to the dead worker any more."""
    started = time.monotonic()
    reported = False
    while time.monotonic() - started < timeout_s:
        with engine.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM scale_leases WHERE owner = :w"), {"w": dead}).scalar()
        if not held:
            return time.monotonic() - started
        time.sleep(0.1)
        if time.monotonic() - started > 3 and not reported:
            reported = True
            _report(engine, dead)
    _report(engine, dead)
    return timeout_s


def _report(engine: Engine, dead: str) -> None:
    with engine.connect() as conn:  # what held the takeover up, for the failure report
        now = conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        print("slow takeover of", dead, "at", now, conn.execute(text(
            "SELECT partition, owner, token, expires_at FROM scale_leases ORDER BY partition")).all(),
            conn.execute(text("SELECT worker_id, heartbeat_at, draining FROM scale_workers")).all(),
            conn.execute(text("SELECT pid, state, wait_event_type, wait_event, left(query, 120)"
                              " FROM pg_stat_activity WHERE datname = current_database()")).all())


def live_workers(engine: Engine) -> set[str]:
    """Workers that are running their loop: alive (presence held) and holding partitions (claims happen only in
    the loop's ticks, so a replacement still connecting to NATS does not count yet)."""
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(
            f"SELECT DISTINCT owner FROM scale_leases WHERE owner IS NOT NULL AND {alive_sql('owner')}"))}


def chaos(pool: WorkerPool, cluster: NatsCluster, engine: Engine, done: threading.Event) -> list[float]:
    rng = random.Random(9)
    takeovers: list[float] = []
    rounds = 0
    while not done.is_set():
        time.sleep(KILL_EVERY_S)
        if done.is_set():
            break
        rounds += 1
        if rounds == 2:
            cluster.kill(2)
        if rounds == 4:
            cluster.start(2)
        # A replacement may still be importing on a loaded box: kill only while another worker is up besides the
        # victim, or the measured "takeover" would be the start-up time of a replacement with nobody to take over.
        live = live_workers(engine)
        deadline = time.monotonic() + 60
        while len(live) < 2 and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.2)
            live = live_workers(engine)
        dead = pool.kill_one(rng, live)
        pool.spawn()  # as a supervisor would, at once; the survivors take over meanwhile
        takeovers.append(takeover_seconds(engine, dead))
        pool.reap()
        while len(pool.procs) < 3:
            pool.spawn()
    return takeovers


@dataclass
class ChaosRun:
    takeovers: list[float] = field(default_factory=list)
    started: int = 0
    seconds: float = 0.0
    crashed: list[str] = field(default_factory=list)


def run_chaos(cluster: NatsCluster, pg_url: str, scale: ScaleSettings, changes: list[ChangeCreate],
              logdir: Path, workers: int = 3) -> ChaosRun:
    """Publish `changes` steadily while workers are killed and a NATS node goes and comes back; returns once
    every change is committed (the caller compares the database with its reference)."""
    publisher = ChangeBus(scale)
    publisher.ensure_stream()
    pool = WorkerPool(scale_env(scale, pg_url), logdir)
    engine = open_database(pg_url)
    for _ in range(workers):
        pool.spawn()
    done = threading.Event()
    result = ChaosRun()
    chaos_thread = threading.Thread(target=lambda: result.takeovers.extend(chaos(pool, cluster, engine, done)))
    started = time.monotonic()
    try:
        wait_until(lambda: count(engine, "SELECT count(*) FROM scale_workers") >= 1, 60, "a worker to start")
        chaos_thread.start()
        pause = max(0.05, PUBLISH_OVER_S / (len(changes) / 250))
        for start in range(0, len(changes), 250):  # a steady stream over a while, so kills land mid-flow
            publisher.publish(changes[start:start + 250], patience_s=60)
            time.sleep(pause)
        wait_until(lambda: count(engine, "SELECT count(*) FROM change_log") >= len(changes),
                   60 + len(changes) / 100, f"{len(changes)} changes")
    finally:
        result.seconds = time.monotonic() - started
        done.set()
        if chaos_thread.is_alive():
            chaos_thread.join(timeout=60)
        pool.stop()
        publisher.close()
        engine.dispose()
    result.started = pool.started
    result.crashed = pool.crashed
    return result
