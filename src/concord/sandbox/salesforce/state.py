"""Everything one running twin holds, reachable from handlers as `request.app.state.twin`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request

from concord.sandbox.salesforce.auth import Sessions
from concord.sandbox.salesforce.dml import Dml
from concord.sandbox.salesforce.errors import not_found
from concord.sandbox.salesforce.query import Cursors
from concord.sandbox.salesforce.schema import ObjectDef, object_def
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.sandbox.salesforce.store import Store


@dataclass
class ApiUsage:
    """The org's rolling daily API request allowance, reported in `Sforce-Limit-Info`.

    The twin counts a 24-hour window from the first request after a reset, on the injected clock.
    """

    limit: int
    store: Store
    used: int = 0
    window_start: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            now = self.store.now()
            if self.window_start is None or now - self.window_start >= timedelta(days=1):
                self.window_start, self.used = now, 0
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.limit}"

    def reset(self, used: int = 0) -> None:
        with self._lock:
            self.used, self.window_start = used, None if used == 0 else self.store.now()


@dataclass
class TwinState:
    settings: SalesforceTwinSettings
    store: Store
    dml: Dml
    sessions: Sessions
    usage: ApiUsage
    cursors: Cursors

    @classmethod
    def create(cls, settings: SalesforceTwinSettings) -> TwinState:
        store = Store(settings.clock, settings.user_id)
        return cls(
            settings=settings,
            store=store,
            dml=Dml(store, settings.restricted_custom_picklists),
            sessions=Sessions(settings, store),
            usage=ApiUsage(settings.daily_api_quota, store),
            cursors=Cursors(store, timedelta(seconds=settings.query_cursor_idle_s)),
        )

    def reset(self) -> None:
        """Empty the org and its counters; issued sessions stay valid so connected clients keep working."""
        self.store.reset()
        self.cursors.reset()
        self.usage.reset()


def twin(request: Request) -> TwinState:
    state: TwinState = request.app.state.twin
    return state


def sobject(name: str) -> ObjectDef:
    """The sObject a URL names; an unknown one is a 404 as in Salesforce."""
    obj = object_def(name)
    if obj is None:
        raise not_found()
    return obj
