"""bench/reconcile: one full reconcile of 1,000,000 customers, a twin-shaped source against the golden store,
with 1% injected drift of every kind (target ≤ 60 s, ≤ 2 GB peak RSS), beside a naive peer on the same data.

The source holds Salesforce Account records exactly as the connector returns them, paged by a cursor the way
`changes_since` pages; it is served from a local SQLite file, not the twin over HTTP (a million records through
an emulated REST API would measure the emulator). The golden store is Concord's own schema on SQLite. Each side
runs in a fresh spawned process so its peak RSS is its own. The peer is the textbook approach: load both sides
into pandas and full-outer-join them on the external id, compare the columns.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from concord.connectors.base import ChangePage, ExternalRecord

SYSTEM = "salesforce"
TENANT = "default"
KINDS = ("push", "pull", "deleted", "vanished", "extra", "missing")
PAGE = 5000


def _ext(i: int) -> str:
    return f"001{i:012d}"


def _golden(i: int) -> dict[str, Any]:
    values = {"name": f"Customer {i}", "phone": f"+1 555 {i:07d}", "website": f"https://c{i}.example",
              "industry": "Energy", "erp_customer_number": f"C-{i}", "credit_status": "ok"}
    owner = {"erp_customer_number": 1, "credit_status": 1}
    return {"f": {p: [v, owner.get(p, 0), True] for p, v in values.items()},
            "p": [["salesforce", 1, "c1", "salesforce/account@1", None], ["tryton", 1, "c2", "tryton/account@1", None]],
            "echo": {}, "creating": [], "synced": {}, "rep": {}}


def _source(i: int) -> dict[str, Any]:
    return {"Id": _ext(i), "Name": f"Customer {i}", "Phone": f"+1 555 {i:07d}", "Website": f"https://c{i}.example",
            "Industry": "Energy", "ERP_Customer_Number__c": f"C-{i}", "Credit_Status__c": "OK"}


def build(folder: Path, n: int, seed: int = 5) -> dict[str, int]:
    """Write the golden store and the source; return how many drifts of each kind were injected."""
    from concord.storage.engine import make_engine, upgrade

    engine = make_engine(f"sqlite:///{folder / 'golden.db'}", "NORMAL")
    upgrade(engine)
    engine.dispose()
    rng = random.Random(seed)
    drifted = rng.sample(range(n), n // 100)
    kind_of = {i: KINDS[k % len(KINDS)] for k, i in enumerate(drifted)}
    golden = sqlite3.connect(folder / "golden.db")
    source = sqlite3.connect(folder / "source.db")
    source.execute("CREATE TABLE source (id TEXT PRIMARY KEY, deleted INTEGER, fields TEXT)")
    now = time.time()
    for start in range(0, n, 50_000):
        chunk = range(start, min(n, start + 50_000))
        g_rows, b_rows, s_rows = [], [], []
        for i in chunk:
            kind = kind_of.get(i)
            data = _golden(i)
            if kind == "missing":
                data["creating"] = [SYSTEM]  # a create that never arrived: no binding, no source row
            g_rows.append((f"cus{i:010d}", TENANT, "account", 1, None, orjson.dumps(data).decode(), now, now))
            if kind == "missing":
                continue
            b_rows.append((TENANT, SYSTEM, "account", _ext(i), f"cus{i:010d}", now, now))
            fields = _source(i)
            if kind == "push":
                fields["ERP_Customer_Number__c"] = f"X-{i}"  # an ERP-owned value overwritten in the CRM
            elif kind == "pull":
                fields["Name"] = f"Customer {i} Renamed"  # the CRM's own change Concord never heard of
            if kind == "vanished":
                continue
            if kind == "extra":
                s_rows.append((_ext(n + i), 0, orjson.dumps({**_source(n + i), "Id": _ext(n + i)}).decode()))
            s_rows.append((_ext(i), int(kind == "deleted"), orjson.dumps(fields).decode()))
        golden.executemany("INSERT INTO golden_records (id, tenant, entity, version, lifecycle_state, data, created_at,"
                           " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", g_rows)
        golden.executemany("INSERT INTO bindings (tenant, system, entity, external_id, canonical_id, last_sync_at,"
                           " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", b_rows)
        source.executemany("INSERT INTO source VALUES (?, ?, ?)", s_rows)
    golden.commit()
    source.commit()
    golden.close()
    source.close()
    counts = {k: 0 for k in KINDS}
    for kind in kind_of.values():
        counts[kind] += 1
    return counts


class SourcePager:
    """The twin's Account records, paged by (Id) cursor as `changes_since` pages them."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)  # paged from the reconciler's fetch thread

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        rows = self.db.execute("SELECT id, deleted, fields FROM source WHERE id > ? ORDER BY id LIMIT ?",
                               (cursor or "", PAGE + 1)).fetchall()
        records = [ExternalRecord(object=obj, id=rid, fields=orjson.loads(f), deleted=bool(d))
                   for rid, d, f in rows[:PAGE]]
        return ChangePage(records=records, cursor=records[-1].id if records else cursor,
                                          has_more=len(rows) > PAGE)

    def close(self) -> None:
        self.db.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_concord(folder: str) -> dict[str, Any]:
    from concord.hubconfig import load_runtime
    from concord.reconciliation.engine import Reconciler
    from concord.storage.engine import make_engine

    engine = make_engine(f"sqlite:///{Path(folder) / 'golden.db'}")
    pager = SourcePager(Path(folder) / "source.db")
    started, cpu = time.perf_counter(), _cpu()
    report = Reconciler(engine, load_runtime(None), TENANT, SYSTEM, "account", pager).run()  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    counts = report.counts()
    pushes = sum(1 for d in report.drifts if d.heal.value == "push")
    return {"seconds": seconds, "cpu": _cpu() - cpu, "rss_mb": _rss_mb(), "records": report.records,
            "counts": counts, "push": pushes, "pull": counts["field"] - pushes}


def run_pandas(folder: str) -> dict[str, Any]:
    import pandas as pd  # type: ignore[import-untyped]

    started, cpu = time.perf_counter(), _cpu()
    src = sqlite3.connect(Path(folder) / "source.db")
    rows = [(rid, d, *(lambda f: (f["Name"], f["ERP_Customer_Number__c"]))(orjson.loads(f)))
            for rid, d, f in src.execute("SELECT id, deleted, fields FROM source")]
    source = pd.DataFrame(rows, columns=["external_id", "deleted", "s_name", "s_erp"])
    gdb = sqlite3.connect(Path(folder) / "golden.db")
    grows = []
    for cid, data, ext in gdb.execute("SELECT g.id, g.data, b.external_id FROM golden_records g LEFT JOIN bindings b"
                                      " ON b.canonical_id = g.id AND b.system = 'salesforce'"):
        raw = orjson.loads(data)
        grows.append((cid, ext, raw["f"]["name"][0], raw["f"]["erp_customer_number"][0], SYSTEM in raw["creating"]))
    golden = pd.DataFrame(grows, columns=["canonical_id", "external_id", "g_name", "g_erp", "creating"])
    missing = int((golden.external_id.isna() & golden.creating).sum())
    joined = source.merge(golden[golden.external_id.notna()], on="external_id", how="outer", indicator=True)
    both = joined[joined["_merge"] == "both"]
    live = both[both.deleted == 0]
    counts = {"missing": missing, "extra": int((joined["_merge"] == "left_only").sum()),
              "deleted": int((both.deleted == 1).sum() + (joined["_merge"] == "right_only").sum())}
    pull, push = int((live.s_name != live.g_name).sum()), int((live.s_erp != live.g_erp).sum())
    counts["field"] = pull + push
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu() - cpu, "rss_mb": _rss_mb(), "records": len(source),
            "counts": counts, "push": push, "pull": pull}


def _spawned(target: Any, folder: str) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(target, (folder,))
        return result


def main() -> None:
    n = int(os.environ.get("BENCH_RECONCILE_CUSTOMERS", "1000000"))
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        injected = build(Path(tmp), n)
        console.print(f"built {n:,} golden records and their source in {time.perf_counter() - started:.1f}s; "
                      f"injected {sum(injected.values()):,} drifts: {injected}")
        results = [("Concord Reconciler (streamed pages)", _spawned(run_concord, tmp)),
                   ("pandas full outer join (peer)", _spawned(run_pandas, tmp))]
    expected = {"missing": injected["missing"], "extra": injected["extra"],
                "deleted": injected["deleted"] + injected["vanished"], "push": injected["push"],
                "pull": injected["pull"]}
    table = Table("path", "records", "seconds", "CPU s", "records/s", "peak RSS MB", "missing", "extra", "deleted",
                  "push", "pull", "all found",
                  title=f"bench/reconcile — {n:,} customers, 1% drift (target ≤ 60 s, ≤ 2,048 MB)")
    for label, r in results:
        got = {**{k: r["counts"][k] for k in ("missing", "extra", "deleted")}, "push": r["push"], "pull": r["pull"]}
        table.add_row(label, f"{r['records']:,}", f"{r['seconds']:.1f}", f"{r['cpu']:.1f}",
                      f"{r['records'] / r['seconds']:,.0f}",
                      f"{r['rss_mb']:,.0f}", *(str(got[k]) for k in ("missing", "extra", "deleted", "push", "pull")),
                      "yes" if got == expected else f"no (expected {expected})")
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall seconds "
                  "stretch with the machine's load; CPU seconds much less so)")


if __name__ == "__main__":
    main()
