"""The writer's cache of golden records as this process last committed them.

Reading and decoding records was the largest remaining cost per change. A stale entry (another process wrote the
record) is harmless: the optimistic version check refuses the write, the cache is dropped and the batch retried
from the database. Only the ingest writer thread touches it, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from concord.canonical.golden import GoldenRecord


class BindingCache:
    """Bindings this process has seen committed. Only positive answers are kept, and bindings never change
    once made, so a hit is always right; a binding another process made is simply a miss that goes to the
    database. (A missing entry in `systems` only delays a target's update until delivery binds it.)"""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self.external: dict[tuple[str, str, str, str], str] = {}
        self.systems: dict[str, dict[str, str]] = {}

    def remember(self, external: dict[tuple[str, str, str, str], str], systems: dict[str, dict[str, str]]) -> None:
        if len(self.external) + len(external) > self.capacity or len(self.systems) + len(systems) > self.capacity:
            self.clear()  # crude but bounded: the next batches refill what is hot
        self.external.update(external)
        self.systems.update({cid: dict(bound) for cid, bound in systems.items()})

    def clear(self) -> None:
        self.external.clear()
        self.systems.clear()


class RecordCache:
    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._records: OrderedDict[str, GoldenRecord] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_many(self, ids: Iterable[str]) -> dict[str, GoldenRecord]:
        found: dict[str, GoldenRecord] = {}
        for rid in ids:
            record = self._records.get(rid)
            if record is None:
                self.misses += 1
                continue
            self._records.move_to_end(rid)
            found[rid] = record
            self.hits += 1
        return found

    def put_many(self, records: Iterable[GoldenRecord]) -> None:
        for record in records:
            self._records[record.id] = record
            self._records.move_to_end(record.id)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)

    def clear(self) -> None:
        self._records.clear()
