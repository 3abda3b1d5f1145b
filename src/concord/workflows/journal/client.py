"""The journal from a process that must not run workflows (the CLI): list runs, wake a waiting one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from concord.workflows.journal.db import open_db
from concord.workflows.journal.records import RunStatus, dump
from concord.workflows.journal.store import JournalStore


class JournalClient:
    """Reads and sends only: it never resumes or executes a run."""

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        self._store = JournalStore(open_db(url, synchronous))

    def runs(self, prefixes: Sequence[str], statuses: Sequence[str] | None = None) -> list[RunStatus]:
        """Runs whose id starts with one of `prefixes`; none when no worker has made the journal yet."""
        if not self._store.exists():
            return []
        return [RunStatus(r) for r in self._store.runs(statuses, prefixes)]

    def send(self, workflow_id: str, topic: str, message: Any) -> bool:
        """Queue a message (the run's executor picks it up within its poll interval); False: no such run."""
        if not self._store.exists():
            return False
        return self._store.send(workflow_id, topic, dump(message))

    def close(self) -> None:
        self._store.db.close()
