"""bench/ingest_front: would a front process in front of the ingest writer pay? (decision 087)

The front process runs `prepare` (mapping, validation) for 64 callers in flight and hands the prepared changes,
pickled, over a pipe to a writer process, which commits them through `IngestService.submit_prepared` and sends
each outcome back. The peer is `bench/ingest`'s one-process path on the same changes, in the same run, rounds
alternated. On the 2-core development box the front process lost 20 to 25%: unpickling and answering cost the
writer's interpreter more than the `prepare` it was spared. Run it on a larger machine before concluding there.

`python -m bench ingest_front` (CONCORD_BENCH_FRONT_CHANGES, default 40,000; CONCORD_BENCH_ROUNDS, default 2).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import threading
from concurrent.futures import Future
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.ingest import WARM_UP, Result, _cpu_s, drive, run, workload
from concord.hubconfig import load_runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.prepare import PreparedChange
from concord.ingest.processor import Outcome
from concord.ingest.service import IngestService, prepare_all
from concord.storage.engine import make_engine, upgrade
from concord.tuning import tune_gc_for_throughput

STOP = "stop"


def writer_main(url: str, conn: Connection) -> None:
    """The writer process: commit what arrives, answer each change, report its CPU when told to stop."""
    tune_gc_for_throughput()
    engine = make_engine(url)
    upgrade(engine)
    service = IngestService(engine, load_runtime(None), max_batch=512)
    service.start()
    lock = threading.Lock()

    def reply(tag: int, future: Future[list[Outcome]]) -> None:
        with lock:
            conn.send((tag, future.result()))

    conn.send((0, "ready"))
    while (message := conn.recv()) != STOP:
        if message == "cpu":
            with lock:
                conn.send((0, _cpu_s()))
            continue
        for tag, prepared in message:
            service.submit_prepared(prepared).add_done_callback(partial(reply, tag))
    service.stop()
    engine.dispose()
    with lock:
        conn.send((0, STOP))


class FrontDoor:
    """The front process's side: prepare, send (coalescing whatever is ready into one message), match answers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.runtime = load_runtime(None)
        self.pending: dict[int, Future[list[Outcome]]] = {}
        self.control: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.outgoing: queue.SimpleQueue[tuple[int, list[PreparedChange]]] = queue.SimpleQueue()
        self.sending = threading.Lock()  # one writer on the pipe at a time: the sender thread or `ask`
        self.next_tag = 1
        threading.Thread(target=self._receive, daemon=True).start()
        threading.Thread(target=self._send, daemon=True).start()

    def submit(self, changes: list[ChangeCreate]) -> Future[list[Outcome]]:
        prepared, errors = prepare_all(self.runtime, changes)
        if errors:
            raise SystemExit(f"bench workload change refused: {next(iter(errors.values())).detail}")
        future: Future[list[Outcome]] = Future()
        tag, self.next_tag = self.next_tag, self.next_tag + 1
        self.pending[tag] = future
        self.outgoing.put((tag, prepared))
        return future

    def ask(self, message: str) -> Any:
        """A control message to the writer process, sent while no change is in flight; its answer."""
        with self.sending:
            self.conn.send(message)
        return self.control.get()

    def _send(self) -> None:
        while True:
            items = [self.outgoing.get()]
            while True:
                try:
                    items.append(self.outgoing.get_nowait())
                except queue.Empty:
                    break
            with self.sending:
                self.conn.send(items)

    def _receive(self) -> None:
        while True:
            tag, payload = self.conn.recv()
            if tag == 0:
                self.control.put(payload)
                if payload == STOP:
                    return
            else:
                self.pending.pop(tag).set_result(payload)


def run_front(label: str, url: str, changes: list[ChangeCreate], in_flight: int) -> Result:
    """Front (this process) and writer (a spawned one); CPU is both processes' together."""
    spawn = mp.get_context("spawn")
    here, there = spawn.Pipe()
    writer = spawn.Process(target=writer_main, args=(url, there), daemon=True)
    writer.start()
    front = FrontDoor(here)
    if front.control.get() != "ready":
        raise SystemExit("the writer process did not start")
    drive(front, changes[:WARM_UP], in_flight)
    writer_cpu, front_cpu = front.ask("cpu"), _cpu_s()
    seconds, latencies = drive(front, changes[WARM_UP:], in_flight)
    cpu = front.ask("cpu") - writer_cpu + _cpu_s() - front_cpu
    front.ask(STOP)
    writer.join(timeout=30)
    return Result(label, len(changes) - WARM_UP, seconds, latencies, 0, cpu)


def main() -> None:
    tune_gc_for_throughput()
    count = int(os.environ.get("CONCORD_BENCH_FRONT_CHANGES", "40000"))
    rounds = int(os.environ.get("CONCORD_BENCH_ROUNDS", "2"))
    changes = workload(count, customers=5000)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            one = partial(run, "one process (bench/ingest's path, peer)", f"sqlite:///{Path(tmp) / f'o{i}.db'}",
                          changes, 512, 64)
            split = partial(run_front, "front process → writer process (pickled over a pipe)",
                            f"sqlite:///{Path(tmp) / f'f{i}.db'}", changes, 64)
            results.extend([one(), split()] if i % 2 == 0 else [split(), one()])
    table = Table("path", "round", "changes", "changes/s", "ack p50 ms", "ack p99 ms", "CPU (cores, both)",
                  title="bench/ingest_front — SQLite ingest behind a front process (decision 087)")
    for i, r in enumerate(results):
        table.add_row(r.label, str(i // 2 + 1), f"{r.changes:,}", f"{r.rate:,.0f}", f"{r.pct(50):.1f}",
                      f"{r.pct(99):.1f}", f"{r.cores:.2f}")
    console = Console()
    console.print(table)
    front = statistics.median(r.rate for r in results if r.label.startswith("front"))
    peer = statistics.median(r.rate for r in results if r.label.startswith("one"))
    console.print(f"front process / one process, median rate: {front / peer:.2f}x")


if __name__ == "__main__":
    main()
