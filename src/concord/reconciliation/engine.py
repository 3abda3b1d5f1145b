"""Walking one system through its connector, page by page, against the golden records and bindings.

Memory stays flat in the store's size except for the set of external ids seen (needed to find bound records the
system no longer has): each page looks up only its own bindings and golden records. Records with an undelivered
outbound command for the system are in flight, not drift, and are skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from concord.canonical.fields import JsonValue
from concord.connectors.base import ChangePage, Connector, ExternalRecord
from concord.connectors.runtime.readonly import ReadOnlyFeed
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.matching.tables import binding_tombstones, held_changes
from concord.reconciliation.drift import Drift, DriftKind, FieldComparer, Heal, is_gone
from concord.storage import tables as t

_CHUNK = 500


class ReconcileError(ValueError):
    """The reconcile cannot run as asked (unknown system or entity, no mapping); the message names which."""


@dataclass
class DriftReport:
    tenant: str
    system: str
    entity: str
    incremental: bool
    records: int = 0  # system records read
    compared: int = 0  # of those, bound records compared field by field
    drifts: list[Drift] = field(default_factory=list)
    sources: dict[str, ExternalRecord] = field(default_factory=dict)  # records a pull or ingest heal needs
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        found = Counter(d.kind.value for d in self.drifts)
        return {kind.value: found.get(kind.value, 0) for kind in DriftKind}

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "system": self.system, "entity": self.entity,
                "incremental": self.incremental, "records": self.records, "compared": self.compared,
                "seconds": round(self.seconds, 3), "counts": self.counts(),
                "drifts": [d.to_json() for d in self.drifts]}


def golden_values(raw: bytes | str) -> dict[str, JsonValue]:
    """Field values straight from a stored golden row: provenance is not needed to compare."""
    return {path: cell[0] for path, cell in orjson.loads(raw).get("f", {}).items()}


def _marks(conn: Connection, n: int) -> str:
    return ", ".join(["%s" if conn.dialect.name == "postgresql" else "?"] * n)


def _fetch(conn: Connection, sql: str, params: list[Any]) -> list[Any]:
    """Rows straight from the DB-API cursor: SQLAlchemy's per-row processing cost more than the query itself
    on a million records (profiles of bench/reconcile)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


@dataclass
class Reconciler:
    engine: Engine
    runtime: Runtime
    tenant: str
    system: str
    entity: str
    connector: Connector
    progress: Callable[[int], None] | None = None  # told how many records each page held

    def __post_init__(self) -> None:
        tenant = self.runtime.hub.tenants.get(self.tenant)
        if tenant is None:
            raise ReconcileError(f"unknown tenant {self.tenant!r}")
        if self.system not in tenant.systems:
            raise ReconcileError(f"system {self.system!r} is not one of tenant {self.tenant}'s: {tenant.systems}")
        mapper = self.runtime.mappings.get(self.system, self.entity, self.tenant)
        if mapper is None:
            raise ReconcileError(f"no mapping for system {self.system!r} and entity {self.entity!r}")
        # A read-only feed (invoices, decision 049) serves records its system issues: their fields heal by
        # ingesting the system's value, nothing is ever pushed to or created in it (it refuses every write)
        self.read_only = isinstance(self.connector, ReadOnlyFeed)
        self.comparer = FieldComparer(self.tenant, self.system, mapper, self.runtime.rules, issuer=self.read_only)
        self.obj = mapper.spec.object
        self.auto_create = self.entity in tenant.auto_create.get(self.system, ()) and not self.read_only

    @property
    def cursor_key(self) -> str:
        return f"reconcile:{self.obj}"

    def run(self, incremental: bool = False) -> DriftReport:
        """Full: every record, plus bound and expected records the system lacks. Incremental: only records
        changed since the last run's cursor (cheap; finds field drift and extras, not deletions)."""
        started = time.perf_counter()
        report = DriftReport(self.tenant, self.system, self.entity, incremental)
        store = DeliveryStore(self.engine)
        cursor = store.cursor(self.tenant, self.system, self.cursor_key) if incremental else None
        seen: set[str] = set()
        with self.engine.connect() as conn:
            in_flight = self._in_flight(conn)
            for page in self._pages(cursor):
                self._page(conn, page.records, report, in_flight)
                seen.update(r.id for r in page.records)
                if self.progress is not None:
                    self.progress(len(page.records))
                cursor = page.cursor or cursor
            if not incremental:
                self._absent(conn, seen, report, in_flight)
        store.save_cursor(self.tenant, self.system, self.cursor_key, cursor)
        report.seconds = time.perf_counter() - started
        return report

    def _pages(self, cursor: str | None) -> Iterator[ChangePage]:
        """The system's pages in order, the next one fetched while this one is compared: a connector waits on
        the network (or its own store) while the comparison waits on nothing but the CPU."""
        with ThreadPoolExecutor(1, thread_name_prefix="concord-reconcile-fetch") as pool:
            pending = pool.submit(self.connector.changes_since, self.obj, cursor)
            while True:
                page = pending.result()
                if page.has_more:
                    pending = pool.submit(self.connector.changes_since, self.obj, page.cursor or cursor)
                    cursor = page.cursor or cursor
                yield page
                if not page.has_more:
                    return

    def _in_flight(self, conn: Connection) -> set[str]:
        o = t.outbox.c
        return set(conn.execute(select(o.canonical_id).where(
            o.kind == "command", o.target == self.system, o.tenant == self.tenant, o.published_at.is_(None),
            o.failed_at.is_(None))).scalars())

    def _page(self, conn: Connection, records: list[ExternalRecord], report: DriftReport, in_flight: set[str]) -> None:
        report.records += len(records)
        bound = self._bound(conn, [r.id for r in records])
        held = self._held(conn, [r.id for r in records if r.id not in bound])
        for record in records:
            found = bound.get(record.id)
            if found is None:
                if not is_gone(record) and record.id not in held:
                    report.drifts.append(Drift(DriftKind.EXTRA, Heal.INGEST, None, record.id))
                    report.sources[record.id] = record
                continue
            cid, data = found
            if cid in in_flight or data is None:
                continue
            if is_gone(record):
                report.drifts.append(Drift(DriftKind.DELETED, Heal.UNBIND, cid, record.id))
            else:
                report.compared += 1
                drifts = self.comparer.drifts(cid, golden_values(data), record)
                if any(d.heal is Heal.PULL for d in drifts):
                    report.sources[record.id] = record
                report.drifts.extend(drifts)

    def _bound(self, conn: Connection, external_ids: list[str]) -> dict[str, tuple[str, Any]]:
        """External id → (canonical id, stored golden data or None) in one query per chunk: the binding and
        its golden row are always needed together, and one join is half the round trips of two lookups."""
        out: dict[str, tuple[str, Any]] = {}
        mark = _marks(conn, 1)
        for chunk in _chunks(external_ids):
            sql = ("SELECT b.external_id, b.canonical_id, g.data FROM bindings b LEFT JOIN golden_records g "
                   f"ON g.id = b.canonical_id WHERE b.tenant = {mark} AND b.system = {mark} AND b.entity = {mark} "
                   f"AND b.external_id IN ({_marks(conn, len(chunk))})")
            out.update((ext, (cid, data)) for ext, cid, data in _fetch(conn, sql, [self.tenant, self.system,
                                                                                 self.entity, *chunk]))
        return out

    def _held(self, conn: Connection, external_ids: list[str]) -> set[str]:
        h = held_changes.c
        out: set[str] = set()
        for chunk in _chunks(external_ids):
            out.update(conn.execute(select(h.external_id).where(
                h.tenant == self.tenant, h.system == self.system, h.entity == self.entity, h.status == "held",
                h.external_id.in_(chunk))).scalars())
        return out

    def _absent(self, conn: Connection, seen: set[str], report: DriftReport, in_flight: set[str]) -> None:
        """Bound records the system no longer returns, and (auto-created systems) customers it never got."""
        b, g, tomb = t.bindings.c, t.golden_records.c, binding_tombstones.c
        sql = (f"SELECT external_id, canonical_id FROM bindings WHERE tenant = {_marks(conn, 1)} AND system = "
               f"{_marks(conn, 1)} AND entity = {_marks(conn, 1)}")
        for ext, cid in _fetch(conn, sql, [self.tenant, self.system, self.entity]):
            if ext not in seen and cid not in in_flight:
                report.drifts.append(Drift(DriftKind.DELETED, Heal.UNBIND, cid, ext))
        bound_here = select(b.canonical_id).where(b.tenant == self.tenant, b.system == self.system,
                                                  b.entity == self.entity)
        dropped = select(tomb.canonical_id).where(tomb.tenant == self.tenant, tomb.system == self.system,
                                                  tomb.entity == self.entity)
        stmt = select(g.id, g.data).where(g.tenant == self.tenant, g.entity == self.entity,
                                          g.id.not_in(bound_here), g.id.not_in(dropped))
        for cid, data in conn.execute(stmt):
            raw = orjson.loads(data)
            expected = self.auto_create or (self.system in raw.get("creating", []) and not self.read_only)
            if expected and raw.get("f") and cid not in in_flight:
                report.drifts.append(Drift(DriftKind.MISSING, Heal.CREATE, cid, None))


def reconcile_change(tenant: str, system: str, entity: str, record: ExternalRecord, run_id: str,
                     at: Any) -> ChangeCreate:
    """The system's record as a change stated now: reading it just now is when the system said so."""
    return ChangeCreate(tenant=tenant, system=system, entity=entity, external_id=record.id, fields=record.fields,
                        source_ts=at, idempotency_key=f"reconcile:{run_id}:{record.id}")
