"""The writer's cache of golden records as this process last committed them.

Reading and decoding records was the largest remaining cost per change. A stale entry (another process wrote the
record) is harmless: the optimistic version check refuses the write, the cache is dropped and the batch retried
from the database. Only the ingest writer thread touches it, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from concord.canonical.golden import GoldenRecord


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
