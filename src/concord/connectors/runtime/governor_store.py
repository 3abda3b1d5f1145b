"""Where the rate governor keeps its per-key state, behind a protocol so workers can share it.

The in-memory store serves one process. A shared store (Redis with WATCH/MULTI or a Lua script, PostgreSQL
with SELECT ... FOR UPDATE) only has to run `mutate` atomically per key; `BucketState` is a plain pydantic
model so it serialises to JSON, and every timestamp in it is wall time (seconds since the epoch) because
monotonic clocks mean nothing across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic import BaseModel

R = TypeVar("R")


class BucketState(BaseModel):
    """One key's token bucket, pause and daily allowance. `capacity=None` means no local rate is declared."""

    capacity: float | None
    refill_per_s: float
    tokens: float
    updated_at: float
    paused_until: float = 0.0
    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_window_start: float | None = None
    quota_resume_at: float | None = None


class GovernorStore(Protocol):
    """Atomic read-modify-write of one key's state."""

    def transact(self, key: str, mutate: Callable[[BucketState | None], tuple[BucketState, R]]) -> R: ...

    def peek(self, key: str) -> BucketState | None: ...


class InMemoryGovernorStore:
    """A dict behind a lock: atomic within one process."""

    def __init__(self) -> None:
        self._states: dict[str, BucketState] = {}
        self._lock = threading.Lock()

    def transact(self, key: str, mutate: Callable[[BucketState | None], tuple[BucketState, R]]) -> R:
        with self._lock:
            state, result = mutate(self._states.get(key))
            self._states[key] = state
            return result

    def peek(self, key: str) -> BucketState | None:
        with self._lock:
            state = self._states.get(key)
            return None if state is None else state.model_copy()
