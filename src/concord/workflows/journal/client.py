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

    @property
    def ready(self) -> bool:
        """Whether there is a journal to read (a SQLite file that exists, with its tables)."""
        return self._store is not None and self._store.exists()

    def census(self, now: float) -> list[tuple[str | None, str, str, int, float]]:
        """Runs by tenant, workflow and status, with the oldest one's age (see `JournalStore.census`)."""
        return self._store.census(now) if self._store is not None and self._store.exists() else []

    def executors(self) -> int:
        return len(self._store.executors()) if self._store is not None and self._store.exists() else 0

    def runs(self, prefixes: Sequence[str] | None = None, statuses: Sequence[str] | None = None,
             name: str | None = None, tenant: str | None = None, limit: int = 1000) -> list[RunStatus]:
        """Runs by id prefix(es), status, workflow name and tenant, oldest first."""
        if self._store is None or not self._store.exists():
            return []
        return [RunStatus(r) for r in self._store.runs(statuses, prefixes, name, limit, tenant)]

    def run(self, workflow_id: str) -> RunStatus | None:
        row = self._store.run(workflow_id) if self._store is not None and self._store.exists() else None
        return None if row is None else RunStatus(row)

    def steps(self, workflow_id: str) -> list[StepRecord]:
        if self._store is None or not self._store.exists():
            return []
        return [StepRecord(s.seq, s.name, s.error is not None, s.at) for s in self._store.steps(workflow_id)]

    def send(self, workflow_id: str, topic: str, message: Any) -> bool:
        """Queue a message (the run's executor picks it up within its poll interval); False: no such run."""
        if self._store is None or not self._store.exists():
            return False
        return self._store.send(workflow_id, topic, dump(message))

    def close(self) -> None:
        if self._store is not None:
            self._store.db.close()
