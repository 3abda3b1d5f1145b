"""An executor on a fresh journal (SQLite file, and PostgreSQL when marked), launched and stopped per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.services import fresh_postgres_database

from concord.workflows.journal import ops
from concord.workflows.journal.db import open_db
from concord.workflows.journal.runtime import Executor
from concord.workflows.journal.store import JournalStore

Launch = Callable[..., Executor]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'concord-workflows.sqlite'}"
    else:
        with fresh_postgres_database() as pg:
            yield pg


@pytest.fixture
def launch(journal_url: str) -> Iterator[Launch]:
    """Launch an executor on the test's journal; launching again stops the previous one first, as a restarted
    process would (its runs stay pending and the new executor resumes them)."""
    running: list[Executor] = []

    def stop_current() -> None:
        while running:
            old = running.pop()
            old.stop(timeout_s=5)
            ops.activate(None)
            old.store.db.close()

    def start(synchronous: str = "NORMAL", message_poll_s: float = 0.2, max_recovery_attempts: int = 100,
              heartbeat_s: float = 2.0, ttl_s: float = 10.0) -> Executor:
        stop_current()
        executor = Executor(JournalStore(open_db(journal_url, synchronous)), "local", message_poll_s,
                            max_recovery_attempts, heartbeat_s, ttl_s)
        ops.activate(executor)
        running.append(executor)
        executor.launch()
        return executor

    yield start
    stop_current()
