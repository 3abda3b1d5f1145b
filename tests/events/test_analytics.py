"""The analytics sink: flattened rows in Parquet, partitioned by day and tenant; replays add no rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import Engine

from concord.events.analytics import AnalyticsSink, read_events
from concord.events.consumer import SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.replay import replay
from tests.events.support import changed


def test_events_land_flattened_and_partitioned_by_day_and_tenant(tmp_path: Path, engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    day2 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    events = [changed("c1", 0, fields={"name": "Acme"}), changed("c2", 0, tenant="acme-eu"),
              changed("c1", 1).model_copy(update={"occurred_at": day2})]
    publish(log, registry, events)
    runner = SubscriptionRunner("analytics", log, engine, AnalyticsSink(tmp_path / "lake"), registry)
    assert runner.drain().processed == 3
    folders = sorted(str(p.parent.relative_to(tmp_path / "lake")) for p in (tmp_path / "lake").rglob("*.parquet"))
    assert folders == ["day=2026-03-01/tenant=acme-eu", "day=2026-03-01/tenant=default",
                       "day=2026-03-02/tenant=default"]
    rows = read_events(tmp_path / "lake")
    assert [r["event_id"] for r in rows] == [e.event_id for e in events]
    first = rows[0]
    assert (first["type"], first["schema_version"], first["canonical_id"], first["changed_fields"]) == \
        ("CustomerUpdated", 2, "c1", ["name"])
    assert first["occurred_at"] == events[0].occurred_at and first["day"] == "2026-03-01"

    files_before = sorted((tmp_path / "lake").rglob("*.parquet"))
    assert replay(runner, 1).delivered == 3
    assert sorted((tmp_path / "lake").rglob("*.parquet")) == files_before  # same batches: same files rewritten
    assert len(read_events(tmp_path / "lake")) == 3


def test_files_are_split_at_the_row_limit(tmp_path: Path, engine: Engine) -> None:
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine, partitions=4)
    base = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    publish(log, registry, [changed("c1", i).model_copy(update={"occurred_at": base + timedelta(minutes=i)})
                            for i in range(5)])
    SubscriptionRunner("a", log, engine, AnalyticsSink(tmp_path, max_rows_per_file=2), registry).drain()
    files = sorted(tmp_path.rglob("*.parquet"))
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] in ([1, 2, 2], [2, 1, 2], [2, 2, 1])
