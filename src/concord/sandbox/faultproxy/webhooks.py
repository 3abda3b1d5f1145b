"""Webhook fan-out ordering: which deliveries go out now, which are held back, which are duplicated."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from concord.sandbox.faultproxy.plan import WebhookPlan
from concord.sandbox.faultproxy.stats import WebhookStats


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the sender made it; `copy` 0 is the original, 1.. are duplicates."""

    seq: int
    method: str
    path: str
    query: bytes
    headers: tuple[tuple[str, str], ...]
    body: bytes
    copy: int = 0


@dataclass
class _Held:
    delivery: Delivery
    release_after: int


class FanoutBuffer:
    """Pure ordering logic; the proxy sends what `admit` and `flush` return, in that order."""

    def __init__(self, plan: WebhookPlan, rng: random.Random, stats: WebhookStats) -> None:
        self._plan = plan
        self._rng = rng
        self.stats = stats
        self._held: list[_Held] = []

    @property
    def held(self) -> int:
        return len(self._held)

    def admit(self, delivery: Delivery) -> list[Delivery]:
        copies = [delivery]
        for copy in range(1, self._plan.max_duplicates + 1):
            if self._rng.random() < self._plan.duplicate_p:
                copies.append(replace(delivery, copy=copy))
        self.stats.duplicated += len(copies) - 1
        due: list[Delivery] = []
        for item in copies:
            if self._rng.random() < self._plan.reorder_p:
                due.extend(self._hold(item))
            else:
                due.append(item)
                due.extend(self._tick())
        return due

    def flush(self) -> list[Delivery]:
        released = [held.delivery for held in self._held]
        self._held.clear()
        self.stats.released += len(released)
        return released

    def _hold(self, item: Delivery) -> list[Delivery]:
        evicted: list[Delivery] = []
        if len(self._held) >= self._plan.hold_back:
            # The buffer is full: the oldest held delivery goes out now, still behind later ones.
            evicted.append(self._held.pop(0).delivery)
            self.stats.released += 1
        self._held.append(_Held(item, self._rng.randint(1, self._plan.hold_back)))
        self.stats.held += 1
        return evicted

    def _tick(self) -> list[Delivery]:
        """A delivery went out: every held one is one step closer to release."""
        for held in self._held:
            held.release_after -= 1
        due = [held.delivery for held in self._held if held.release_after <= 0]
        self._held = [held for held in self._held if held.release_after > 0]
        self.stats.released += len(due)
        return due
