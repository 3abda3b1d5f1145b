"""bench/workflows: a 5-step onboarding-shaped workflow whose systems are in-process twins of zero latency, on
SQLite — so what is measured is the durable machinery, not the systems.

Rows, measured in the same run on the same machine:
- ours: Concord's runtime — `WorkflowEngine` on Concord's durable journal (decision 081), `durable_step` steps
  with one Pydantic input and result, the business-key workflow id, connector calls through `connector_call()`
  and `ExactlyOnceWriter`;
- bare DBOS: the same five steps as plain `@DBOS.step` functions on dicts, on DBOS with the same SQLite settings
  (WAL, the same synchronous level) — the engine Concord ran on before decision 081;
- direct: the same call chain with no durability at all (the ceiling).
Each is run sequentially (one workflow at a time, p50 latency) and with 8 workflows in flight. The per-step durable
overhead is (p50 workflow latency - direct p50) / 5. SQLite synchronous=NORMAL (WAL; durable against a crash of
the process, not of the machine) and FULL (an fsync per commit) are both shown.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, SetWorkflowID
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from concord.connectors.base import Capabilities, ChangePage, ExternalRecord, NotFound
from concord.connectors.runtime.writes import ExactlyOnceWriter
from concord.events.registry import SchemaRegistry
from concord.hubconfig import load_runtime
from concord.policy.store import PolicyStore, policy_path
from concord.storage.engine import make_engine, upgrade
from concord.workflows.duplicates import ExactKeyDuplicateCheck
from concord.workflows.engine import WorkflowEngine, WorkflowSettings, services
from concord.workflows.journal import run_workflow, start_workflow, workflow
from concord.workflows.services import WorkflowServices
from concord.workflows.steps import connector_call, durable_step

STEPS = 5
SEQUENTIAL = 300
CONCURRENT = 400
IN_FLIGHT = 8


class MemoryTwin:
    """A system of zero latency: a dict per object, ids from a counter (thread-safe enough under the GIL)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.capabilities = Capabilities(objects=("record",), upsert_by_external_id=True)
        self.rows: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self._ids = itertools.count(1)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        return []

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        row = self.rows.get(record_id)
        return None if row is None else ExternalRecord(object=obj, id=record_id, fields=row)

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        found = self.by_key.get(idempotency_key)
        if found is None:
            found = str(next(self._ids))
            self.rows[found] = dict(fields)
            self.by_key[idempotency_key] = found
        return ExternalRecord(object=obj, id=found, fields=self.rows[found])

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        if record_id not in self.rows:
            raise NotFound(self.name, record_id)
        self.rows[record_id].update(fields)
        return ExternalRecord(object=obj, id=record_id, fields=self.rows[record_id])

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        return self.create(obj, {**fields, external_id_field: external_id}, external_id)

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        return ChangePage(records=[], cursor=cursor)

    def close(self) -> None:
        return None


# -- ours ----------------------------------------------------------------------------------------------------
class Customer(BaseModel):
    key: str
    name: str
    country: str
    erp_id: str | None = None


class Done(BaseModel):
    key: str
    ids: dict[str, str]


TENANT = "default"  # not pinned to a region: every step gets the default endpoint, as in production


@durable_step("bench-validate")
def b_validate(c: Customer) -> Customer:
    return c.model_copy(update={"name": c.name.strip()})


@durable_step("bench-erp")
def b_erp(c: Customer) -> Customer:
    with connector_call():
        record = ExactlyOnceWriter(services().connector("erp", TENANT)).create(
            "record", {"name": c.name, "country": c.country}, idempotency_key=c.key, external_id=("code", c.key))
    return c.model_copy(update={"erp_id": record.record.id})


@durable_step("bench-crm")
def b_crm(c: Customer) -> Done:
    with connector_call():
        crm = services().connector("crm", TENANT)
        account = crm.create("record", {"name": c.name}, idempotency_key=f"{c.key}:crm")
        crm.update("record", account.id, {"erp_number": c.erp_id})
    return Done(key=c.key, ids={"crm": account.id, "erp": c.erp_id or ""})


@durable_step("bench-publish")
def b_publish(d: Done) -> Done:
    with connector_call():
        services().connector("events", TENANT).create("record", {"type": "CustomerOnboarded"}, idempotency_key=d.key)
    return d


@durable_step("bench-provision")
def b_provision(d: Done) -> Done:
    with connector_call():
        billing = services().connector("billing", TENANT)
        sub = billing.create("record", {"customer": d.key}, idempotency_key=f"{d.key}:s")
    return d.model_copy(update={"ids": {**d.ids, "billing": sub.id}})


@workflow("bench-ours")
def ours(c: Customer) -> Done:
    return b_provision(b_publish(b_crm(b_erp(b_validate(c)))))


# -- bare DBOS: the same shape on dicts ------------------------------------------------------------------------
TWINS: dict[str, MemoryTwin] = {}


@DBOS.step(name="bare-validate")
def x_validate(c: dict[str, Any]) -> dict[str, Any]:
    return {**c, "name": c["name"].strip()}


@DBOS.step(name="bare-erp")
def x_erp(c: dict[str, Any]) -> dict[str, Any]:
    record = TWINS["erp"].create("record", {"name": c["name"], "country": c["country"]}, c["key"])
    return {**c, "erp_id": record.id}


@DBOS.step(name="bare-crm")
def x_crm(c: dict[str, Any]) -> dict[str, Any]:
    account = TWINS["crm"].create("record", {"name": c["name"]}, f"{c['key']}:crm")
    TWINS["crm"].update("record", account.id, {"erp_number": c["erp_id"]})
    return {**c, "crm": account.id}


@DBOS.step(name="bare-publish")
def x_publish(c: dict[str, Any]) -> dict[str, Any]:
    TWINS["events"].create("record", {"type": "CustomerOnboarded"}, c["key"])
    return c


@DBOS.step(name="bare-provision")
def x_provision(c: dict[str, Any]) -> dict[str, Any]:
    sub = TWINS["billing"].create("record", {"customer": c["key"]}, f"{c['key']}:s")
    return {**c, "billing": sub.id}


@DBOS.workflow(name="bench-bare")
def bare(c: dict[str, Any]) -> dict[str, Any]:
    return x_provision(x_publish(x_crm(x_erp(x_validate(c)))))


def direct(c: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = x_provision.__wrapped__(x_publish.__wrapped__(x_crm.__wrapped__(  # type: ignore[attr-defined]
        x_erp.__wrapped__(x_validate.__wrapped__(c)))))  # type: ignore[attr-defined]
    return result


# -- measuring -------------------------------------------------------------------------------------------------
@dataclass
class Row:
    label: str
    sync: str
    workflows: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.workflows / self.seconds


def _customer(n: int) -> dict[str, Any]:
    return {"key": f"cus-{uuid.uuid4().hex}", "name": f" Customer {n} ", "country": "BE"}


def _sequential(label: str, sync: str, run: Callable[[dict[str, Any]], Any]) -> Row:
    latencies = []
    started = time.perf_counter()
    for n in range(SEQUENTIAL):
        t0 = time.perf_counter()
        run(_customer(n))
        latencies.append((time.perf_counter() - t0) * 1000)
    return Row(label, sync, SEQUENTIAL, time.perf_counter() - started, latencies)


def _concurrent(label: str, sync: str, run: Callable[[dict[str, Any]], Any]) -> Row:
    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        list(pool.map(run, (_customer(n) for n in range(CONCURRENT))))
    return Row(f"{label}, {IN_FLIGHT} in flight", sync, CONCURRENT, time.perf_counter() - started, [])


def run_ours(c: dict[str, Any]) -> Any:
    return run_workflow(ours, Customer(**c), f"onboard:bench:{c['key']}")


def start_ours(c: dict[str, Any]) -> Any:
    """The API's path: the run on a thread of its own, the caller waiting for its result."""
    return start_workflow(ours, Customer(**c), f"onboard:bench:{c['key']}").get_result()


def run_bare(c: dict[str, Any]) -> Any:
    with SetWorkflowID(f"bare:bench:{c['key']}"):
        return bare(c)


def _services(workdir: Path) -> WorkflowServices:
    url = f"sqlite:///{workdir / 'concord.db'}"
    db = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    TWINS.update({name: MemoryTwin(name) for name in ("erp", "crm", "events", "billing")})
    return WorkflowServices(engine=db, runtime=load_runtime(None), connectors=dict(TWINS),
                            policy=PolicyStore(policy_path(None)), duplicates=ExactKeyDuplicateCheck(db),
                            events=SchemaRegistry.default())


def _dbos_sqlite(path: Path, synchronous: str) -> sa.Engine:
    """DBOS's system database as Concord configured it before decision 081: IMMEDIATE transactions, plus WAL
    (DBOS's default rollback journal costs two fsyncs per step)."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    return engine


def _measure_bare(workdir: Path, sync: str) -> list[Row]:
    path = workdir / "dbos-system.sqlite"
    DBOS(config={"name": "bench", "system_database_url": f"sqlite:///{path}", "run_admin_server": False,
                 "log_level": "WARNING", "system_database_engine": _dbos_sqlite(path, sync)})  # type: ignore[typeddict-unknown-key]
    DBOS.launch()
    try:
        for n in range(20):
            run_bare(_customer(n))
        return [_sequential("bare DBOS", sync, run_bare), _concurrent("bare DBOS", sync, run_bare)]
    finally:
        DBOS.destroy()


def measure(workdir: Path, sync: str) -> list[Row]:
    settings = WorkflowSettings(database_url=f"sqlite:///{workdir / sync / 'concord.db'}", sqlite_synchronous=sync)
    (workdir / sync).mkdir()
    with WorkflowEngine(settings, _services(workdir / sync)):
        for n in range(20):  # warm-up: imports, the journal's pages
            run_ours(_customer(n))
        ours_rows = [_sequential("ours (Concord runtime)", sync, run_ours),
                     _sequential("ours, each run on its own thread", sync, start_ours),
                     _sequential("direct call chain (ceiling)", sync, direct), _concurrent("ours", sync, run_ours)]
    bare_rows = _measure_bare(workdir / sync, sync)
    return [*ours_rows[:2], bare_rows[0], *ours_rows[2:], bare_rows[1]]


def main() -> None:
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(Path(tmp), "NORMAL") + measure(Path(tmp), "FULL")
    table = Table("variant", "sqlite sync", "workflows", "seconds", "workflows/s", "p50 ms/wf", "p99 ms/wf",
                  "durable overhead p50 ms/step", title=f"bench/workflows — {STEPS}-step onboarding shape, "
                                                        "zero-latency in-process twins, SQLite system database")
    direct_p50 = {r.sync: statistics.median(r.latencies_ms) for r in rows if r.label.startswith("direct")}
    for row in rows:
        lat = row.latencies_ms
        p50 = statistics.median(lat) if lat else None
        overhead = "" if p50 is None or row.label.startswith("direct") else \
            f"{(p50 - direct_p50[row.sync]) / STEPS:.2f}"
        table.add_row(row.label, row.sync, str(row.workflows), f"{row.seconds:.2f}", f"{row.rate:,.0f}",
                      "" if p50 is None else f"{p50:.2f}",
                      f"{statistics.quantiles(lat, n=100)[98]:.2f}" if len(lat) > 100 else "", overhead)
    console.print(table)
    console.print("targets: ≥ 500 workflows/s and ≤ 1 ms durable overhead per step (p50)")
