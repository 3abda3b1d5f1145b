"""Keeping an in-memory online index current by following the change log, across processes.

Every write to a golden record (ingest in any process, merge, unmerge, relink) leaves a `change_log` row, and
`seq` only grows, so an index that remembers the last `seq` it applied can catch up with one small range query
before each check and re-read just the records named since — never a rebuild, and never blind to what another
process committed. A record named in the log but no longer stored (merged away) is dropped from the index.

PostgreSQL hands out `seq` values at insert and commits them in any order: a row with a lower `seq` may become
visible after a higher one was read. So each `seq` skipped over is remembered as a gap and asked for again on
later reads until it shows up or `grace` seconds pass (a rolled-back transaction leaves a gap for good). A new
feed starts `lookback` rows before the newest `seq`, re-reading recent records once, because transactions in
flight while the index was being built may commit below it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.storage import tables as t

Named = tuple[str, str, str]  # tenant, entity, canonical id
_MAX_GAP = 10_000  # a jump wider than this is not a transaction in flight (a restored backup, a reset sequence)


@dataclass
class ChangeFeed:
    """A cursor over `change_log` for one process: which records were written since the last read."""

    position: int | None = None  # highest seq read; None until started
    gaps: dict[int, float] = field(default_factory=dict)  # seq skipped over → when first missed
    grace: float = 60.0
    page: int = 5000
    lookback: int = 1000
    reads: int = 0  # rows read from the log, for tests and metrics

    def start(self, conn: Connection) -> None:
        """Begin following just before the log's end (call before building the index it keeps current)."""
        if self.position is None:
            newest = conn.execute(select(func.max(t.change_log.c.seq))).scalar()
            self.position = max(0, int(newest or 0) - self.lookback)

    def read(self, conn: Connection, now: float | None = None) -> list[Named]:
        """Records written since the last read (and in gaps that have since filled), in log order."""
        self.start(conn)
        at = time.time() if now is None else now
        c = t.change_log.c
        named = self._refill(conn, at)
        while True:
            rows = conn.execute(select(c.seq, c.tenant, c.entity, c.canonical_id).where(c.seq > self.position)
                                .order_by(c.seq).limit(self.page)).all()
            for row in rows:
                self._note_gap(int(row.seq), at)
                named.append((row.tenant, row.entity, row.canonical_id))
            self.reads += len(rows)
            if len(rows) < self.page:
                return named

    def _note_gap(self, seq: int, at: float) -> None:
        assert self.position is not None
        if 1 < seq - self.position <= _MAX_GAP:
            self.gaps.update(dict.fromkeys(range(self.position + 1, seq), at))
        self.position = max(self.position, seq)

    def _refill(self, conn: Connection, at: float) -> list[Named]:
        if not self.gaps:
            return []
        c = t.change_log.c
        found = conn.execute(select(c.seq, c.tenant, c.entity, c.canonical_id)
                             .where(c.seq.in_(sorted(self.gaps)[:1000]))).all()
        for row in found:
            self.gaps.pop(int(row.seq), None)
        self.gaps = {seq: first for seq, first in self.gaps.items() if at - first < self.grace}
        return [(row.tenant, row.entity, row.canonical_id) for row in found]


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def current_values(conn: Connection, ids: Iterable[str]) -> dict[str, tuple[str, str, dict[str, JsonValue]]]:
    """id → (tenant, entity, flat values) of the golden records still stored among `ids`."""
    g = t.golden_records.c
    out: dict[str, tuple[str, str, dict[str, JsonValue]]] = {}
    for chunk in _chunks(sorted(set(ids))):
        for r in conn.execute(select(g.id, g.tenant, g.entity, g.version, g.data).where(g.id.in_(chunk))):
            raw: dict[str, Any] = orjson.loads(r.data)
            out[r.id] = (r.tenant, r.entity, GoldenRecord.from_json(r.tenant, r.entity, r.id, r.version, raw).values())
    return out
