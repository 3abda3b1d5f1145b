"""bench/console: server render time of every console page with 100,000 customers and 1,000,000 change-log rows
(target ≤ 300 ms each), seeded by bulk SQL into a fresh SQLite database.

Peers measured in the same run: the JSON golden-record read (`GET /api/v1/customers/{id}`) and `/healthz`, so a
slow machine shows up in the peers too. Times are in-process (TestClient): the request through routing, the
database reads and the template render, without network. The projections (series, customer links) are built
once before timing; that catch-up is reported on its own row.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from concord.api.app import create_app
from concord.security.keys import create_key
from concord.security.scopes import ALL_TENANTS, ROLES
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade

CUSTOMERS = int(os.environ.get("BENCH_CONSOLE_CUSTOMERS", "100000"))
CHANGES = int(os.environ.get("BENCH_CONSOLE_CHANGES", "1000000"))
TARGET_MS = 300.0
REPEAT = 7
SYSTEMS = ("salesforce", "tryton", "zendesk")
STATUSES = ("applied", "applied", "applied", "no_op", "partial", "rejected")
WEEK_S = 7 * 86400


def _account(i: int, ts_us: int) -> dict[str, Any]:
    prov = [["salesforce", ts_us, f"chg{i:08d}a", "salesforce/account@1", None],
            ["tryton", ts_us + 1000, f"chg{i:08d}b", "tryton/account@1", None]]
    fields = {"name": [f"Customer {i} Holdings", 0, True], "website": [f"https://c{i}.example", 0, True],
              "industry": ["Manufacturing", 0, True], "employee_count": [100 + i % 900, 0, True],
              "legal_name": [f"Customer {i} Holdings GmbH", 1, True], "credit_status": ["ok", 1, True],
              "payment_terms": ["NET30", 1, True], "erp_customer_number": [f"C-{i:06d}", 1, True],
              "legal_address.city": ["Berlin", 1, True], "legal_address.country": ["DE", 1, True],
              "lifecycle_state": ["credit_hold" if i % 50 == 0 else "active", 0, True]}
    return {"f": fields, "p": prov, "echo": {}, "creating": [], "synced": {}, "rep": {}}


def _rows(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def seed(engine: Engine, now: float) -> None:
    """Golden records and bindings for every customer, then the change log spread over the last week."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        ts_us = int((now - WEEK_S) * 1e6)
        for chunk in _rows(CUSTOMERS, 20_000):
            cur.executemany("INSERT INTO golden_records (id, tenant, entity, version, lifecycle_state, data, "
                            "created_at, updated_at) VALUES (?, 'default', 'account', 3, ?, ?, ?, ?)",
                            [(f"cus_{i:07d}", "credit_hold" if i % 50 == 0 else "active",
                              orjson.dumps(_account(i, ts_us)).decode(), now - WEEK_S, now - (i % 86400))
                             for i in chunk])
            cur.executemany("INSERT INTO bindings (tenant, system, entity, external_id, canonical_id, last_sync_at, "
                            "created_at) VALUES ('default', ?, 'account', ?, ?, ?, ?)",
                            [(s, f"{s[:2]}{i:09d}", f"cus_{i:07d}", now, now) for i in chunk for s in SYSTEMS[:2]])
        _seed_changes(cur, now)
        _seed_operations(cur, now)
        _seed_headroom(cur, now)
        raw.commit()
    finally:
        raw.close()


def _seed_changes(cur: Any, now: float) -> None:
    rng = random.Random(7)
    # The first change of a customer creates it (name included); later ones touch other fields, as in real streams.
    created = orjson.dumps({"applied": ["name", "website", "industry", "legal_name"]}).decode()
    updated = orjson.dumps({"applied": ["employee_count", "website"]}).decode()
    payload = orjson.dumps({"fields": {"Name": "x"}}).decode()
    for chunk in _rows(CHANGES, 50_000):
        rows = []
        for seq in chunk:
            customer = seq % CUSTOMERS
            system = SYSTEMS[seq % 3]
            at = now - WEEK_S + WEEK_S * seq / CHANGES
            status = STATUSES[rng.randrange(len(STATUSES))]
            rows.append((f"chg{seq:09d}", f"k{seq}", f"corr-{customer}-{seq // CUSTOMERS}", system,
                         f"{system[:2]}{customer:09d}", f"cus_{customer:07d}", int(at * 1e6), at,
                         f"{system}/account@1", status, 1 if status == "rejected" else 0, payload,
                         created if seq < CUSTOMERS else updated))
        cur.executemany("INSERT INTO change_log (change_id, tenant, idempotency_key, correlation_id, system, entity, "
                        "external_id, canonical_id, source_ts_us, received_at, mapping_version, status, rejected, "
                        "pending, payload, decision) VALUES (?, 'default', ?, ?, ?, 'account', ?, ?, ?, ?, ?, ?, ?, "
                        "0, ?, ?)", rows)


def _seed_operations(cur: Any, now: float) -> None:
    """A realistic backlog: failed commands, dead letters, pending approvals."""
    cur.executemany("INSERT INTO outbox (message_id, tenant, kind, type, target, entity, canonical_id, correlation_id, "
                    "causation_id, payload, created_at, attempts, failed_at, last_error) VALUES (?, 'default', "
                    "'command', 'update_account', 'tryton', 'account', ?, ?, ?, '{}', ?, 5, ?, 'timeout')",
                    [(f"m{i}", f"cus_{i * 97 % CUSTOMERS:07d}", f"corr-{i}", f"c{i}", now - i, now - i)
                     for i in range(200)])
    cur.executemany("INSERT INTO event_dead_letters (subscription, event_id, customer_key, type, envelope, attempts, "
                    "error, failed_at, status) VALUES ('partner-webhook', ?, ?, 'CustomerCreated', ?, 5, "
                    "'HTTP 500', ?, 'dead')", [(f"e{i}", f"cus_{i:07d}", _envelope(i), now - i) for i in range(500)])
    cur.executemany("INSERT INTO approvals (id, tenant, entity, canonical_id, field, value, current, owner, system, "
                    "source_ts_us, change_id, correlation_id, status, created_at) VALUES (?, 'default', 'account', "
                    "?, 'legal_name', '\"New Name\"', '\"Old Name\"', 'tryton', 'zendesk', 0, ?, ?, 'pending', ?)",
                    [(f"ap{i}", f"cus_{i:07d}", f"chg{i}", f"corr-{i}", now - i) for i in range(300)])


def _seed_headroom(cur: Any, now: float) -> None:
    """A week of per-minute headroom and quota samples for six governor keys, as the samplers would leave them
    (7 days of minutes, 6 keys, 2 gauges: about 121k rows of ops_series)."""
    keys = [(system, f"{system}-cred-{n}") for system in ("salesforce", "zendesk", "stripe") for n in (1, 2)]
    start = int(now - WEEK_S) - int(now - WEEK_S) % 60
    for system, credential in keys:
        rows = []
        for bucket in range(start, int(now), 60):
            used = (bucket - start) % 86400 / 86400
            rows.append((bucket, system, f"headroom:{credential}", 100.0 - 60 * used))
            rows.append((bucket, system, f"quota_left:{credential}", 100_000 * (1 - used)))
            if bucket % 3600 == 0:  # the hourly rollup (lowest of the hour: its last minute here)
                rows.append((bucket, system, f"h:headroom:{credential}", 100.0 - 60 * (used + 59 / 1440)))
                rows.append((bucket, system, f"h:quota_left:{credential}", 100_000 * (1 - used - 59 / 1440)))
        cur.executemany("INSERT INTO ops_series (bucket, tenant, system, metric, value) VALUES (?, 'default', ?, ?, ?)",
                        rows)


def _envelope(i: int) -> str:
    return orjson.dumps({"event_id": f"e{i}", "type": "CustomerCreated", "schema_version": 1, "tenant": "default",
                         "customer_key": f"cus_{i:07d}", "correlation_id": f"corr-{i}", "causation_id": f"c{i}",
                         "occurred_at": "2026-11-01T00:00:00+00:00",
                         "data": {"canonical_id": f"cus_{i:07d}", "name": f"Customer {i}"}}).decode()


def timed(client: TestClient, path: str) -> tuple[float, float]:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return statistics.median(samples), max(samples)


def main() -> None:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'console.db'}"
        engine = make_engine(url, "NORMAL")
        upgrade(engine)
        started = time.perf_counter()
        seed(engine, time.time())
        seeded = time.perf_counter() - started
        engine.dispose()
        with TestClient(create_app(Settings(database_url=url, sqlite_synchronous="NORMAL"))) as client:
            ctx = client.app.state  # type: ignore[attr-defined]
            with ctx.concord.engine.begin() as conn:  # the pages are measured with key checks, as served
                key = create_key(conn, tenant=ALL_TENANTS, name="bench", scopes=ROLES["admin"], actor="bench")
            client.headers["Authorization"] = f"Bearer {key.token}"
            started = time.perf_counter()
            rows_read = ctx.ops.projector(ctx.concord.engine).catch_up()
            projected = time.perf_counter() - started
            _report(console, client, seeded, projected, rows_read)


def _report(console: Console, client: TestClient, seeded: float, projected: float, rows_read: int) -> None:
    blocked, plain = "cus_0000050", f"cus_{CUSTOMERS * 2 // 3:07d}"
    pages = [
        ("dashboard", "/console/dashboard"),
        ("dashboard 24h, tryton", "/console/dashboard?window=24h&system=tryton"),
        ("dashboard 7d", "/console/dashboard?window=7d"),
        ("dashboard live figures (JSON)", "/console/api/summary"),
        ("customers list", "/console/customers"),
        ("customer search by name", f"/console/customers?q=Customer%20{CUSTOMERS - 1}"),
        ("customer search by external id", f"/console/customers?q=tr{CUSTOMERS * 2 // 3:09d}"),
        ("customer 360 (blocked)", f"/console/customers/{blocked}"),
        ("customer 360", f"/console/customers/{plain}"),
        ("exception inbox", "/console/inbox"),
        ("dead letters", "/console/dead-letters"),
        ("dead letter detail", "/console/dead-letters/1"),
        ("mappings & ownership", "/console/mappings"),
        ("audit log", "/console/audit"),
        ("audit by customer", f"/console/audit?customer={plain}"),
        ("audit by system", "/console/audit?system=zendesk"),
        ("experience API", f"/api/v1/experience/customers/{blocked}"),
        ("/metrics", "/metrics"),
        ("/readyz", "/readyz"),
        ("peer: GET /api/v1/customers/{id}", f"/api/v1/customers/{plain}"),
        ("peer: /healthz", "/healthz"),
    ]
    table = Table("page", "median ms", "max ms", f"≤ {TARGET_MS:.0f} ms",
                  title=f"console render time: {CUSTOMERS:,} customers, {CHANGES:,} change-log rows (SQLite)")
    for label, path in pages:
        median, worst = timed(client, path)
        ok = "yes" if median <= TARGET_MS else "NO"
        table.add_row(label, f"{median:.1f}", f"{worst:.1f}", ok if not label.startswith("peer") else "")
    console.print(table)
    console.print(f"seeding by bulk SQL: {seeded:.1f}s; projection catch-up (once, {rows_read:,} source rows): "
                  f"{projected:.1f}s")
