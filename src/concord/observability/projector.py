"""Incremental projections of the change log, the outbox and the dead-letter store for the console.

Each source is read past a watermark on its primary key (cheap at any size), aggregated per minute and added
into `ops_series`; related entities (subscription, entitlement, billing account…) are linked to their account
in `ops_customer_links` so the customer 360 never scans JSON. `catch_up()` is idempotent and serialised by a
lock; the console calls it before rendering the dashboard, so no background thread is needed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from concord.events import tables as et
from concord.observability import tables as ot
from concord.storage import tables as t

BATCH = 50_000
SeriesKey = tuple[int, str, str, str]  # bucket, tenant, system, metric


def minute(ts: float) -> int:
    return int(ts) - int(ts) % 60


TOTAL = 0  # the bucket that holds all-time totals, so headline figures never sum the whole series


HOURLY = "h:"  # prefix of the hourly rollup of a metric: week-long charts read 168 buckets, not 10,080


def hour(ts: float) -> int:
    return int(ts) - int(ts) % 3600


def with_totals(counts: Counter[SeriesKey]) -> dict[SeriesKey, float]:
    """The per-minute counts plus their hourly rollups and all-time totals."""
    totals: Counter[SeriesKey] = Counter()
    for (bucket, tenant, system, metric), value in counts.items():
        totals[(TOTAL, tenant, system, metric)] += value
        totals[(hour(bucket), tenant, system, HOURLY + metric)] += value
    return {**counts, **totals}


def add_series(conn: Connection, counts: dict[SeriesKey, float]) -> None:
    """Add `counts` into ops_series (insert, or add to the existing bucket)."""
    if not counts:
        return
    rows = [{"bucket": b, "tenant": tn, "system": s, "metric": m, "value": v} for (b, tn, s, m), v in counts.items()]
    dialect = conn.dialect.name
    stmt = (postgresql.insert(ot.ops_series) if dialect == "postgresql" else sqlite.insert(ot.ops_series))
    stmt = stmt.on_conflict_do_update(index_elements=["bucket", "tenant", "system", "metric"],
                                      set_={"value": ot.ops_series.c.value + stmt.excluded.value})
    conn.execute(stmt, rows)


def set_series(conn: Connection, values: dict[SeriesKey, float]) -> None:
    """Overwrite gauges (latency percentiles, headroom) for their bucket."""
    if not values:
        return
    rows = [{"bucket": b, "tenant": tn, "system": s, "metric": m, "value": v} for (b, tn, s, m), v in values.items()]
    stmt = (postgresql.insert(ot.ops_series) if conn.dialect.name == "postgresql" else sqlite.insert(ot.ops_series))
    stmt = stmt.on_conflict_do_update(index_elements=["bucket", "tenant", "system", "metric"],
                                      set_={"value": stmt.excluded.value})
    conn.execute(stmt, rows)


def _watermark(conn: Connection, name: str) -> int:
    w = ot.ops_watermarks.c
    return int(conn.execute(select(w.position).where(w.name == name)).scalar() or 0)


def _save_watermark(conn: Connection, name: str, position: int) -> None:
    stmt = (postgresql.insert(ot.ops_watermarks) if conn.dialect.name == "postgresql"
            else sqlite.insert(ot.ops_watermarks))
    conn.execute(stmt.values(name=name, position=position).on_conflict_do_update(
        index_elements=["name"], set_={"position": position}))


class OpsProjector:
    """Brings the projections up to date with the sources; safe to call from any thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Project everything new; returns how many source rows were read."""
        with self._lock:
            total = 0
            for step in (self._changes, self._outbox, self._dead_letters, self._replays):
                while True:
                    with self.engine.begin() as conn:
                        read = step(conn)
                    total += read
                    if read < BATCH:
                        break
            return total

    def _changes(self, conn: Connection) -> int:
        c = t.change_log.c
        since = _watermark(conn, "change_log")
        rows = conn.execute(select(c.seq, c.tenant, c.system, c.entity, c.canonical_id, c.status, c.rejected,
                                   c.received_at, c.decision).where(c.seq > since).order_by(c.seq).limit(BATCH)).all()
        if not rows:
            return 0
        counts: Counter[SeriesKey] = Counter()
        exact: Counter[SeriesKey] = Counter()  # totals only, finer than the series: what /metrics exports
        for r in rows:
            bucket = minute(r.received_at)
            counts[(bucket, r.tenant, r.system, f"changes_{r.status}")] += 1
            exact[(TOTAL, r.tenant, r.system, f"changes:{r.entity}:{r.status}")] += 1
            if r.rejected:
                counts[(bucket, r.tenant, r.system, "rejected_fields")] += r.rejected
                exact[(TOTAL, r.tenant, r.system, "changes_with_refusals")] += 1
        add_series(conn, {**with_totals(counts), **exact})
        self._link(conn, {r.canonical_id for r in rows if r.entity != "account"})
        # a substring test first: decisions are JSON, and most changes leave the name alone
        self._name(conn, {r.canonical_id for r in rows
                          if r.entity == "account" and ('"name"' in r.decision or '"legal_name"' in r.decision)})
        _save_watermark(conn, "change_log", rows[-1].seq)
        return len(rows)

    def _link(self, conn: Connection, ids: set[str]) -> None:
        """Remember each related record's account, read from its golden record (account_id field)."""
        if not ids:
            return
        g = t.golden_records.c
        links: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(ids), 1000):
            for r in conn.execute(select(g.id, g.tenant, g.entity, g.data).where(g.id.in_(chunk))):
                account = _account_of(orjson.loads(r.data))
                if account:
                    links.append({"canonical_id": r.id, "tenant": r.tenant, "account_id": account,
                                  "entity": r.entity})
        if links:
            table = ot.ops_customer_links
            stmt = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
            conn.execute(stmt.on_conflict_do_update(index_elements=["canonical_id"], set_={
                "account_id": stmt.excluded.account_id}), links)

    def _name(self, conn: Connection, ids: set[str]) -> None:
        """Keep the searchable name of accounts whose name or legal name a change applied."""
        g = t.golden_records.c
        names: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(ids), 1000):
            for r in conn.execute(select(g.id, g.tenant, g.data).where(g.id.in_(chunk), g.entity == "account")):
                fields = orjson.loads(r.data).get("f", {})
                parts = [str(fields[k][0]) for k in ("name", "legal_name") if fields.get(k) and fields[k][0]]
                names.append({"canonical_id": r.id, "tenant": r.tenant, "search": " | ".join(parts).lower()[:600]})
        if names:
            table = ot.ops_customer_names
            stmt = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
            conn.execute(stmt.on_conflict_do_update(index_elements=["canonical_id"], set_={
                "search": stmt.excluded.search}), names)

    def _outbox(self, conn: Connection) -> int:
        o = t.outbox.c
        since = _watermark(conn, "outbox")
        rows = conn.execute(select(o.seq, o.tenant, o.kind, o.type, o.target, o.created_at)
                            .where(o.seq > since).order_by(o.seq).limit(BATCH)).all()
        if not rows:
            return 0
        counts: Counter[SeriesKey] = Counter()
        exact: Counter[SeriesKey] = Counter()
        for r in rows:
            bucket = minute(r.created_at)
            if r.kind == "command":
                counts[(bucket, r.tenant, r.target, "commands")] += 1
                exact[(TOTAL, r.tenant, r.target, f"commands:{r.type}")] += 1
            else:
                counts[(bucket, r.tenant, "", f"event_{r.type}")] += 1
        add_series(conn, {**with_totals(counts), **exact})
        _save_watermark(conn, "outbox", rows[-1].seq)
        return len(rows)

    def _dead_letters(self, conn: Connection) -> int:
        return self._by_id(conn, et.event_dead_letters, "failed_at", "dead_letters")

    def _replays(self, conn: Connection) -> int:
        return self._by_id(conn, et.event_replays, "started_at", "replays")

    @staticmethod
    def _by_id(conn: Connection, table: Table, stamp: str, metric: str) -> int:
        since = _watermark(conn, metric)
        rows = conn.execute(select(table.c.id, table.c.subscription, table.c[stamp]).where(table.c.id > since)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return 0
        counts: Counter[SeriesKey] = Counter((minute(r[2]), "", r.subscription, metric) for r in rows)
        add_series(conn, with_totals(counts))
        _save_watermark(conn, metric, rows[-1].id)
        return len(rows)


def _account_of(raw: dict[str, Any]) -> str | None:
    entry = raw.get("f", {}).get("account_id")
    return entry[0] if entry and isinstance(entry[0], str) else None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def series(conn: Connection, metrics: list[str], since: float, tenant: str | None = None,
           system: str | None = None, step: int = 60) -> dict[str, dict[int, float]]:
    """metric → {bucket: summed value} over the filters, from `since` on, in buckets of `step` seconds
    (read from the hourly rollup when `step` is whole hours)."""
    s = ot.ops_series.c
    prefix = HOURLY if step % 3600 == 0 else ""
    slot = (s.bucket - s.bucket % step).label("slot")
    query = (select(s.metric, slot, func.sum(s.value))
             .where(s.metric.in_([prefix + m for m in metrics]), s.bucket >= max(minute(since), TOTAL + 1))
             .group_by(s.metric, slot))
    if tenant:
        query = query.where(s.tenant == tenant)
    if system:
        query = query.where(s.system == system)
    out: dict[str, dict[int, float]] = {m: {} for m in metrics}
    for metric, bucket, value in conn.execute(query):
        out[metric.removeprefix(prefix)][int(bucket)] = float(value)
    return out


def totals_by_key(conn: Connection, prefix: str) -> dict[tuple[str, str, str], int]:
    """(tenant, system, metric) → all-time total, for metrics starting with `prefix`."""
    s = ot.ops_series.c
    rows = conn.execute(select(s.tenant, s.system, s.metric, s.value).where(s.bucket == TOTAL,
                                                                           s.metric.like(f"{prefix}%")))
    return {(r.tenant, r.system, r.metric): int(r.value) for r in rows}


def totals(conn: Connection, tenant: str | None = None, system: str | None = None) -> dict[str, float]:
    """All-time totals per metric over the filters (the TOTAL bucket)."""
    s = ot.ops_series.c
    query = select(s.metric, func.sum(s.value)).where(s.bucket == TOTAL).group_by(s.metric)
    if tenant:
        query = query.where(s.tenant == tenant)
    if system:
        query = query.where(s.system == system)
    return {metric: float(value) for metric, value in conn.execute(query)}


def dimensions(conn: Connection) -> tuple[list[str], list[str]]:
    """Tenants and systems seen, for the dashboard's filters."""
    s = ot.ops_series.c
    rows = conn.execute(select(s.tenant, s.system).where(s.bucket == TOTAL).distinct()).all()
    return sorted({r.tenant for r in rows if r.tenant}), sorted({r.system for r in rows if r.system})
