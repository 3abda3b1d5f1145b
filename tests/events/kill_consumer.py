"""A consumer process for the SIGKILL test: consumes `sub` forever, slowly, recording workflow signals."""

from __future__ import annotations

import sys
import time

from sqlalchemy import Connection

from concord.events.consumer import SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.envelope import EventEnvelope, EventLog
from concord.events.registry import SchemaRegistry
from concord.events.routing import WorkflowSignalTarget
from concord.events.subscribers import WorkflowSignalSubscriber
from concord.storage.engine import make_engine


class Slow(WorkflowSignalSubscriber):
    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        time.sleep(0.002)  # long batches, so the kill lands mid-batch
        super().handle(event, tx)


def open_log(url: str, backend: str, tag: str) -> tuple[EventLog, SubscriptionRunner]:
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    log: EventLog
    if backend == "nats":
        from concord.events.nats_log import NatsLog

        log = NatsLog(stream=f"TEST_{tag}", subject_prefix=f"test{tag}", partitions=8, ack_wait_s=1.0)
    else:
        log = EmbeddedLog(engine, partitions=8)
    target = WorkflowSignalTarget(kind="workflow_signal", workflow="kill-test", signal="s")
    return log, SubscriptionRunner(name="sub", log=log, engine=engine, subscriber=Slow(target),
                                   registry=SchemaRegistry.default())


def main() -> None:
    url, backend, tag = sys.argv[1:4]
    _, runner = open_log(url, backend, tag)
    print("ready", flush=True)
    while True:
        runner.run_once(max_events=100, wait_s=0.1)


if __name__ == "__main__":
    main()
