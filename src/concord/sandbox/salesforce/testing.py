"""Helpers for tests that run the twin: a settable clock and a context manager that serves a twin on a free
loopback port and stops it afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.salesforce.app import create_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.salesforce.state import TwinState
from concord.sandbox.salesforce.store import Store


class FakeClock:
    """A clock that moves only when told to; pass it as `SalesforceTwinSettings(clock=...)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


@dataclass
class RunningTwin:
    app: FastAPI
    handle: ServerHandle

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    @property
    def state(self) -> TwinState:
        state: TwinState = self.app.state.twin
        return state

    @property
    def store(self) -> Store:
        return self.state.store

    def session_id(self) -> str:
        """A live access token, as if the client had just completed an OAuth flow."""
        return self.state.sessions.issue()[0]


@contextmanager
def running_twin(settings: SalesforceTwinSettings | None = None) -> Iterator[RunningTwin]:
    app = create_app(settings)
    handle = serve_in_thread(app)
    try:
        yield RunningTwin(app, handle)
    finally:
        handle.stop()
