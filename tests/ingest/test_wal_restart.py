"""The pipelined writer never pauses between transactions, so SQLite's WAL never started over by itself: it grew
by every commit's pages for as long as ingest ran (docs/decisions/084). With the checkpointer's restart handshake
it stays bounded. SQLite only: PostgreSQL has no WAL file of ours to bound."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.storage import tables as t
from concord.storage.engine import Checkpointer, make_engine, upgrade
from tests.factories import change

FRAME = 4096 + 24  # a page and its frame header


def _ingest(engine: Engine, runtime: Runtime, checkpointer: Checkpointer, wal: Path, changes: int) -> int:
    """`changes` updates of 500 customers, all queued before the writer starts, 16 to a batch: the next batch
    always waits, so the writer never pauses between transactions. The WAL file's size in frames afterwards
    (it only grows, unless it started over)."""
    service = IngestService(engine, runtime, max_batch=16, checkpointer=checkpointer)
    futures = [service.submit([change("salesforce", f"001{i % 500:04d}",
                                      {"Name": f"Acme {i % 500}", "NumberOfEmployees": i}, at=i)])
               for i in range(changes)]
    service.start()
    try:
        for future in futures:
            future.result(timeout=120)
        return wal.stat().st_size // FRAME
    finally:
        service.stop()


def test_the_wal_stays_bounded_under_ingest_that_never_pauses(tmp_path: Path, runtime: Runtime) -> None:
    sizes = {}
    # The baseline copies nothing back, so the WAL cannot start over: every commit's pages stay in it. (With only
    # PASSIVE passes and no handshake it could start over by chance, when the writer was late enough.)
    for label, interval_s in (("no checkpoints", 3600.0), ("restarted", 0.02)):
        db = tmp_path / f"{label}.db"
        engine = make_engine(f"sqlite:///{db}")
        upgrade(engine)
        try:
            checkpointer = Checkpointer(engine, interval_s=interval_s, restart_frames=256, tail_frames=64)
            sizes[label] = _ingest(engine, runtime, checkpointer, Path(f"{db}-wal"), 3000)
            with engine.connect() as conn:  # nothing lost on the way
                assert conn.execute(select(func.count()).select_from(t.change_log)).scalar_one() == 3000
        finally:
            engine.dispose()
    assert sizes["no checkpoints"] > 4000, sizes  # a few pages per change
    assert sizes["restarted"] < sizes["no checkpoints"] / 3, sizes
