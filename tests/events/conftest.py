"""The event log under test: embedded (on the `engine` fixture's SQLite and PostgreSQL) and NATS JetStream."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from concord.events.embedded import EmbeddedLog
from concord.events.envelope import EventLog
from concord.events.registry import SchemaRegistry
from tests.services import require

LogFactory = Callable[[], EventLog]
NATS_ACK_WAIT_S = 1.0


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    return SchemaRegistry.default()


@pytest.fixture(params=["embedded", pytest.param("nats", marks=pytest.mark.nats)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log_factory(backend: str, engine: Engine) -> Iterator[LogFactory]:
    """Opens further handles on the same log (a second process, a restart); all are closed afterwards."""
    opened: list[EventLog] = []
    if backend == "nats":
        require("NATS", "127.0.0.1", 4222)
        from concord.events.nats_log import NatsLog

        tag = uuid.uuid4().hex[:10]

        def make() -> EventLog:
            log = NatsLog(stream=f"TEST_{tag}", subject_prefix=f"test{tag}", partitions=8,
                          ack_wait_s=NATS_ACK_WAIT_S)
            opened.append(log)
            return log
    else:
        def make() -> EventLog:
            log = EmbeddedLog(engine, partitions=8, ack_wait_s=NATS_ACK_WAIT_S)
            opened.append(log)
            return log

    yield make
    if backend == "nats":
        make().delete_stream()  # type: ignore[attr-defined]
    for log in opened:
        log.close()


@pytest.fixture
def log(log_factory: LogFactory) -> EventLog:
    return log_factory()
