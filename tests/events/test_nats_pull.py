"""The standing pull behind `NatsLog.fetch` (concord.events.nats_pull, docs/decisions/075): what it keeps
ahead of the consumer, that it renews expired requests, that an empty non-waiting fetch means empty on the
server, that a nak'd event is not overtaken by what was pushed behind it, and that pulling resumes after a
reconnect."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.events.envelope import StoredEvent
from concord.events.nats_log import NatsLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from tests.events.support import changed
from tests.scale.cluster import NATS_SERVER, free_port
from tests.services import require

pytestmark = pytest.mark.nats

@pytest.fixture
def nats_log(request: pytest.FixtureRequest) -> Iterator[NatsLog]:
    require("NATS", "127.0.0.1", 4222)
    tag = uuid.uuid4().hex[:10]
    expires = getattr(request, "param", 10.0)
    log = NatsLog(stream=f"TEST_{tag}", subject_prefix=f"test{tag}", partitions=4, ack_wait_s=5.0,
                  pull_expires_s=expires)
    try:
        yield log
    finally:
        log.delete_stream()
        log.close()


def seqs(events: list[StoredEvent]) -> list[int]:
    return [e.envelope.data["changes"]["seq"]["after"] for e in events]


def collect(log: NatsLog, subscription: str, count: int, max_events: int = 10) -> list[StoredEvent]:
    got: list[StoredEvent] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        got += log.fetch(subscription, max_events, wait_s=0.5)
    return got


def ack_pending(log: NatsLog, subscription: str) -> int:
    info = log._call(log._js.consumer_info(log.stream, "sub_" + subscription))  # the server's count
    return int(info.num_ack_pending)


def test_fetch_returns_at_most_max_events_and_keeps_two_batches_ahead(nats_log: NatsLog) -> None:
    registry = SchemaRegistry.default()
    publish(nats_log, registry, [changed("c1", n) for n in range(100)])
    first = nats_log.fetch("s", 10, wait_s=2.0)
    assert 1 <= len(first) <= 10
    time.sleep(0.5)  # let the server push what the window allows
    second = nats_log.fetch("s", 10)
    assert len(second) == 10  # pushed while the first batch was "being processed": no wait, no round trip
    # held (returned, unacked) plus pushed-ahead stays bounded by max_events x 2, not the whole backlog
    assert len(first) + len(second) <= ack_pending(nats_log, "s") <= len(first) + len(second) + 20
    assert seqs(first + second) == list(range(len(first) + len(second)))


def test_an_empty_fetch_that_may_not_wait_means_empty_on_the_server(nats_log: NatsLog) -> None:
    registry = SchemaRegistry.default()
    assert nats_log.fetch("s", 10) == []
    for n in range(20):  # each event is published right before a fetch that may not wait
        publish(nats_log, registry, [changed("c1", n)])
        got = nats_log.fetch("s", 10)
        assert seqs(got) == [n]
        nats_log.ack("s", got)
    assert nats_log.fetch("s", 10) == []


@pytest.mark.parametrize("nats_log", [0.3], indirect=True)
def test_expired_pull_requests_are_renewed(nats_log: NatsLog) -> None:
    registry = SchemaRegistry.default()
    assert nats_log.fetch("s", 10, wait_s=0.1) == []
    time.sleep(1.0)  # the outstanding requests expire on the server (several rounds of 0.3 s)
    publish(nats_log, registry, [changed("c1", 0)])
    start = time.monotonic()
    got = nats_log.fetch("s", 10, wait_s=3.0)
    assert seqs(got) == [0]
    assert time.monotonic() - start < 1.0  # pushed by a renewed request, not found by a later fallback


def test_a_nak_hands_back_what_was_pushed_behind_it(nats_log: NatsLog) -> None:
    registry = SchemaRegistry.default()
    publish(nats_log, registry, [changed("c1", n) for n in range(5)])
    first = nats_log.fetch("s", 1, wait_s=2.0)
    assert seqs(first) == [0]
    time.sleep(0.3)  # 1..4 are pushed into the buffer meanwhile
    nats_log.nak("s", first[0], delay_s=0.0)
    again = collect(nats_log, "s", 5)
    assert seqs(again) == [0, 1, 2, 3, 4]  # not 1, 2, 3, 4, 0
    assert again[0].attempt == 2


def test_pulling_resumes_after_the_server_restarts(tmp_path: Path) -> None:
    """The server forgets our pull requests with the connection; the reconnect must re-issue them at once
    rather than after they would have expired (10 s here)."""
    if not Path(NATS_SERVER).exists():
        pytest.skip(f"{NATS_SERVER} is not installed")
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{tmp_path / "store"}" }}\n')

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([NATS_SERVER, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return proc
            time.sleep(0.05)
        raise AssertionError("private nats-server did not start")

    server = start()
    log = NatsLog(url=f"nats://127.0.0.1:{port}", stream="RESTART", subject_prefix="restart", partitions=2)
    try:
        registry = SchemaRegistry.default()
        publish(log, registry, [changed("c1", 0)])
        first = log.fetch("s", 10, wait_s=2.0)
        assert seqs(first) == [0]
        log.ack("s", first)
        server.kill()
        server.wait(10)
        server = start()
        time.sleep(3.0)  # the client reconnects (it retries every 2 s)
        publish(log, registry, [changed("c1", 1)])
        start_at = time.monotonic()
        got: list[int] = []
        while 1 not in got and time.monotonic() - start_at < 5.0:
            got += seqs(log.fetch("s", 10, wait_s=0.5))
        # (0 may come again: a killed server can lose an ack it had not yet written; the ledger drops it)
        assert got and got[-1] == 1 and set(got) <= {0, 1}
        assert time.monotonic() - start_at < 2.0
    finally:
        log.close()
        server.kill()
        server.wait(10)
