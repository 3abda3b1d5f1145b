"""SIGKILL the server mid-ingest: every change that got a 202 is present exactly once after restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from concord.sandbox.common import free_port
from concord.storage.engine import make_engine, upgrade
from tests.security.support import bearer, key_for

TOTAL = 10_000
THREADS = 8


def _change(i: int) -> dict[str, object]:
    return {"system": "salesforce", "entity": "account", "external_id": f"001{i:015d}",
            "fields": {"Name": f"Customer {i}", "NumberOfEmployees": i}, "source_ts": "2026-03-01T12:00:00Z",
            "idempotency_key": f"crash-{i}"}


@contextmanager
def server(db_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, "CONCORD_DATABASE_URL": db_url, "CONCORD_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "concord", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"server did not start: {proc.stderr.read() if proc.stderr else b''!r}")
        time.sleep(0.1)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def _admin_headers(db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    upgrade(engine)
    token = key_for(engine)
    engine.dispose()
    return bearer(token)


def _hammer(url: str, indexes: list[int], acked: dict[str, str], lock: threading.Lock,
            headers: dict[str, str]) -> None:
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        for i in indexes:
            try:
                response = client.post("/api/v1/changes", json=_change(i))
            except httpx.TransportError:
                return  # the server died under us: whatever was not acknowledged may or may not be there
            if response.status_code == 202:
                with lock:
                    acked[f"crash-{i}"] = response.json()["change_id"]


@pytest.mark.slow
def test_sigkill_during_ingest_loses_no_acknowledged_change(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    acked: dict[str, str] = {}
    lock = threading.Lock()
    headers = _admin_headers(db_url)
    with server(db_url) as (proc, url):
        workers = [threading.Thread(target=_hammer, args=(url, list(range(n, TOTAL, THREADS)), acked, lock, headers))
                   for n in range(THREADS)]
        for w in workers:
            w.start()
        while len(acked) < 3_000 and any(w.is_alive() for w in workers):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for w in workers:
            w.join()
    assert 3_000 <= len(acked) < TOTAL, f"kill landed at {len(acked)} acknowledgements"

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT idempotency_key, change_id FROM change_log")).all()
    stored: dict[str, list[str]] = {}
    for key, change_id in rows:
        stored.setdefault(key, []).append(change_id)
    missing = [k for k in acked if k not in stored]
    assert not missing, f"{len(missing)} acknowledged changes lost, e.g. {missing[:3]}"
    assert all(stored[k] == [cid] for k, cid in acked.items())

    with server(db_url) as (_, url), httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        for start in range(0, TOTAL, 500):
            batch = [_change(i) for i in range(start, min(start + 500, TOTAL))]
            result = client.post("/api/v1/changes/batch", json={"changes": batch}).json()
            assert result["failed"] == 0
            for item in result["results"]:
                key = f"crash-{start + item['index']}"
                if key in acked:
                    assert item["result"]["replayed"] and item["result"]["change_id"] == acked[key]
    with engine.connect() as conn:
        changes = conn.execute(text("SELECT count(*), count(DISTINCT idempotency_key) FROM change_log")).one()
        records = conn.execute(text("SELECT count(*) FROM golden_records")).scalar()
    engine.dispose()
    assert tuple(changes) == (TOTAL, TOTAL) and records == TOTAL
