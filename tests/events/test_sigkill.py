"""No loss and no duplicate effect when the consumer process is SIGKILLed in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from concord.events import tables as t
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from tests.events.kill_consumer import open_log
from tests.events.support import changed
from tests.services import require

ROOT = Path(__file__).resolve().parents[2]


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.workflow_signals)).scalar_one())


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(backend: str, engine: Engine,
                                                                registry: SchemaRegistry) -> None:
    if backend == "nats":
        require("NATS", "127.0.0.1", 4222)
    tag = uuid.uuid4().hex[:10]
    url = engine.url.render_as_string(hide_password=False)
    log, _ = open_log(url, backend, tag)
    events = [changed(f"k{i % 10}", i // 10) for i in range(400)]
    publish(log, registry, events)
    proc = subprocess.Popen([sys.executable, "-m", "tests.events.kill_consumer", url, backend, tag], cwd=ROOT,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while _count(engine) < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    done_before = _count(engine)
    assert 60 <= done_before < 400, "the kill must land while work remains"
    log.close()
    # no waiting out the ack wait: the restarted consumer resumes in log order from what was acknowledged
    log, runner = open_log(url, backend, tag)
    try:
        runner.drain(max_events=100)
    finally:
        if backend == "nats":
            log.delete_stream()  # type: ignore[attr-defined]
        log.close()
    with engine.connect() as conn:
        rows = conn.execute(select(t.workflow_signals.c.event_id, t.workflow_signals.c.customer_key)
                            .order_by(t.workflow_signals.c.id)).all()
        ledger = conn.execute(select(func.count()).select_from(t.event_processed)).scalar_one()
    assert sorted(r.event_id for r in rows) == sorted(e.event_id for e in events)
    assert ledger == 400
    for k in range(10):  # and in order per customer
        assert [r.event_id for r in rows if r.customer_key == f"k{k}"] == \
            [e.event_id for e in events if e.customer_key == f"k{k}"]
