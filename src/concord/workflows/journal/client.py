"""The journal from a process that must not run workflows (the CLI): list runs, wake a waiting one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from concord.workflows.journal.db import open_db
from concord.workflows.journal.records import RunStatus, StepRecord, dump
from concord.workflows.journal.store import JournalStore


class JournalClient:
    """Reads and sends only: it never resumes or executes a run, and never creates a journal that is not there
    (no worker ever ran here: there is nothing to list and nobody to wake)."""

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        parsed = make_url(url)
        missing = parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file()
        self._store = None if missing else JournalStore(open_db(url, synchronous))

    def _open(self) -> JournalStore | None:
        """The store, if there is a journal to read (one query: a CLI may look before any worker ran)."""
        return self._store if self._store is not None and self._store.exists() else None

    @property
    def ready(self) -> bool:
        """Whether there is a journal to read (a SQLite file that exists, with its tables)."""
        return self._open() is not None

    def census(self, now: float) -> list[tuple[str | None, str, str, int, float]]:
        """Runs by tenant, workflow and status, with the oldest one's age (see `JournalStore.census`)."""
        store = self._open()
        return [] if store is None else store.census(now)

    def executors(self) -> int:
        store = self._open()
        return 0 if store is None else len(store.executors())

    def runs(self, prefixes: Sequence[str] | None = None, statuses: Sequence[str] | None = None,
             name: str | None = None, tenant: str | None = None, limit: int = 1000) -> list[RunStatus]:
        """Runs by id prefix(es), status, workflow name and tenant, oldest first."""
        store = self._open()
        return [] if store is None else [RunStatus(r) for r in store.runs(statuses, prefixes, name, limit, tenant)]

    def run(self, workflow_id: str) -> RunStatus | None:
        store = self._open()
        row = None if store is None else store.run(workflow_id)
        return None if row is None else RunStatus(row)

    def steps(self, workflow_id: str) -> list[StepRecord]:
        store = self._open()
        return [] if store is None else [StepRecord(s.seq, s.name, s.error is not None, s.at)
                                         for s in store.steps(workflow_id)]

    def send(self, workflow_id: str, topic: str, message: Any) -> bool:
        """Queue a message (the run's executor picks it up within its poll interval); False: no such run."""
        store = self._open()
        return False if store is None else store.send(workflow_id, topic, dump(message))

    def close(self) -> None:
        if self._store is not None:
            self._store.db.close()
