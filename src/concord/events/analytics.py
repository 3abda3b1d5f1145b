"""The analytics sink: every lifecycle event, flattened to one row, in Parquet files partitioned by day and tenant
(Hive layout: <dir>/day=YYYY-MM-DD/tenant=<tenant>/part-<hash>.parquet).

Rows are buffered per batch and written in `flush`, before the batch's ledger rows commit, so an event is never
marked processed without being on disk. A file's name is a hash of the event ids in it: a redelivered or
replayed batch rewrites the same file instead of adding one; readers still de-duplicate on `event_id`
(`read_events` does) because a replay may batch events differently.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import Connection

from concord.events.envelope import EventEnvelope

SCHEMA = pa.schema([
    ("event_id", pa.string()), ("type", pa.string()), ("schema_version", pa.int32()), ("tenant", pa.string()),
    ("customer_key", pa.string()), ("correlation_id", pa.string()), ("causation_id", pa.string()),
    ("occurred_at", pa.timestamp("us", tz="UTC")), ("entity", pa.string()), ("canonical_id", pa.string()),
    ("source_system", pa.string()), ("field", pa.string()), ("before", pa.string()), ("after", pa.string()),
    ("changed_fields", pa.list_(pa.string())), ("data", pa.string()),
])


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def flatten(event: EventEnvelope) -> dict[str, Any]:
    data = event.data
    changes: dict[str, Any] = data.get("changes", {})
    occurred = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
    return {"event_id": event.event_id, "type": event.type, "schema_version": event.schema_version,
            "tenant": event.tenant, "customer_key": event.customer_key, "correlation_id": event.correlation_id,
            "causation_id": event.causation_id, "occurred_at": occurred.astimezone(UTC),
            "entity": data.get("entity"), "canonical_id": data.get("canonical_id"),
            "source_system": data.get("source_system"), "field": data.get("field"),
            "before": _json(data.get("before")), "after": _json(data.get("after")),
            "changed_fields": data.get("changed_fields") or sorted(changes) or None, "data": _json(data)}


@dataclass
class AnalyticsSink:
    directory: Path
    max_rows_per_file: int = 50_000
    _rows: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    transactional = False

    def handle(self, event: EventEnvelope, tx: Connection) -> None:
        row = flatten(event)
        self._rows[(row["occurred_at"].strftime("%Y-%m-%d"), event.tenant)].append(row)

    def flush(self, tx: Connection) -> None:
        rows, self._rows = self._rows, defaultdict(list)
        for (day, tenant), items in rows.items():
            for i in range(0, len(items), self.max_rows_per_file):
                self._write(day, tenant, items[i:i + self.max_rows_per_file])

    def _write(self, day: str, tenant: str, rows: list[dict[str, Any]]) -> None:
        folder = self.directory / f"day={day}" / f"tenant={tenant}"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256("\n".join(sorted(r["event_id"] for r in rows)).encode()).hexdigest()[:24]
        final = folder / f"part-{digest}.parquet"
        temp = folder / f".part-{digest}.{os.getpid()}.tmp"
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), temp)
        os.replace(temp, final)  # atomic: readers never see half a file


def read_events(directory: Path) -> list[dict[str, Any]]:
    """Every row under `directory`, one per event id (oldest file wins), ordered by occurrence."""
    seen: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("part-*.parquet")):
        for row in pq.ParquetFile(path).read().to_pylist():
            day = path.parent.parent.name.removeprefix("day=")
            seen.setdefault(row["event_id"], {**row, "day": day,
                                              "partition_tenant": path.parent.name.removeprefix("tenant=")})
    return sorted(seen.values(), key=lambda r: (r["occurred_at"] or datetime.min.replace(tzinfo=UTC),
                                                r["event_id"]))
