"""Rate-limit headroom and daily quota over time: gauges sampled from the governors into `ops_series`.

A governor knows only its present state, so the dashboard's charts need samples. Every process that holds
connectors (`concord serve --connections`, the workflow and scale workers) runs a `HeadroomSampler`; the
console also samples on each render, so the newest point is always current. A sample overwrites its minute
(last value wins) and lowers its hour's rollup; charts over longer steps show the lowest value of each step —
the figure that matters is how close a key came to running out. Keys are stored as (tenant, system) rows with
the credential id in the metric name, so the dashboard's tenant and system filters apply unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from concord.connectors.runtime.governed import GovernedKey
from concord.observability import tables as ot
from concord.observability.projector import HOURLY, TOTAL, SeriesKey, hour, minute, set_series

HEADROOM = "headroom:"
QUOTA_LEFT = "quota_left:"
SEEN = "headroom_keys"  # a TOTAL-bucket marker, so the dashboard's system filter lists governed systems
METRIC_LENGTH = 64  # ops_series.metric

log = logging.getLogger(__name__)


def _metric(prefix: str, credential: str) -> str:
    return (prefix + credential)[:METRIC_LENGTH]


def sample_headroom(conn: Connection, keys: list[GovernedKey], now: float | None = None) -> int:
    """Record each key's tokens left and daily quota left in the current minute; returns the points written."""
    at = now if now is not None else time.time()
    values: dict[SeriesKey, float] = {}
    for governed in keys:
        room = governed.governor.headroom(governed.key)
        key = governed.key
        if room.tokens is not None:
            values[(minute(at), key.tenant, key.system, _metric(HEADROOM, key.credential))] = room.tokens
        if room.daily_remaining is not None:
            values[(minute(at), key.tenant, key.system, _metric(QUOTA_LEFT, key.credential))] = float(
                room.daily_remaining)
    set_series(conn, values)
    # The hourly rollup keeps the lowest sample of the hour, so week-long charts read 168 points per key.
    lowest_series(conn, {(hour(at), tn, sys_name, HOURLY + m): v for (_, tn, sys_name, m), v in values.items()})
    set_series(conn, {(TOTAL, g.key.tenant, g.key.system, SEEN): 0.0 for g in keys})
    return len(values)


def lowest_series(conn: Connection, values: dict[SeriesKey, float]) -> None:
    """Insert, or keep the lower of the stored and the new value."""
    if not values:
        return
    rows = [{"bucket": b, "tenant": tn, "system": s, "metric": m, "value": v} for (b, tn, s, m), v in values.items()]
    postgres = conn.dialect.name == "postgresql"
    stmt = postgresql.insert(ot.ops_series) if postgres else sqlite.insert(ot.ops_series)
    lower = (func.least if postgres else func.min)(ot.ops_series.c.value, stmt.excluded.value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["bucket", "tenant", "system", "metric"],
                                            set_={"value": lower}), rows)


def _after(prefix: str) -> str:
    """The first string past every string starting with `prefix`: a range the (metric, bucket) index can seek,
    where LIKE 'prefix%' would scan the table on SQLite (its LIKE is case-insensitive, the index is not)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class HeadroomLine:
    system: str
    tenant: str
    credential: str

    @property
    def label(self) -> str:
        return f"{self.system} · {self.tenant} · {self.credential}"


def headroom_series(conn: Connection, prefix: str, since: float, tenant: str | None = None,
                    system: str | None = None, step: int = 60) -> dict[HeadroomLine, dict[int, float]]:
    """One line per key for `prefix` (HEADROOM or QUOTA_LEFT): {slot of `step` seconds: lowest sample}."""
    s = ot.ops_series.c
    prefix = (HOURLY if step % 3600 == 0 else "") + prefix
    slot = (s.bucket - s.bucket % step).label("slot")
    query = (select(s.tenant, s.system, s.metric, slot, func.min(s.value))
             .where(s.metric >= prefix, s.metric < _after(prefix), s.bucket >= max(minute(since), TOTAL + 1))
             .group_by(s.tenant, s.system, s.metric, slot))
    if tenant:
        query = query.where(s.tenant == tenant)
    if system:
        query = query.where(s.system == system)
    out: dict[HeadroomLine, dict[int, float]] = {}
    for tn, sys_name, metric, bucket, value in conn.execute(query):
        line = HeadroomLine(sys_name, tn, metric.removeprefix(prefix))
        out.setdefault(line, {})[int(bucket)] = float(value)
    return dict(sorted(out.items(), key=lambda item: item[0].label))


class HeadroomSampler:
    """Samples `keys()` every `every_s` seconds on a daemon thread until `stop()`."""

    def __init__(self, engine: Engine, keys: Callable[[], list[GovernedKey]], every_s: float = 15.0) -> None:
        self.engine = engine
        self.keys = keys
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> int:
        keys = self.keys()
        if not keys:
            return 0
        with self.engine.begin() as conn:
            return sample_headroom(conn, keys)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # a database hiccup must not end sampling for the life of the process
                log.warning("headroom sample failed", exc_info=True)
            self._stop.wait(self.every_s)

    def start(self) -> HeadroomSampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="concord-headroom", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
