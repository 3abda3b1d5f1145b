"""An in-memory external system behind the Connector protocol, for delivery and capture tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from concord.connectors.base import Capabilities, ChangePage, ConnectorError, ExternalRecord, NotFound

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class MemorySystem:
    def __init__(self, name: str, objects: tuple[str, ...]) -> None:
        self.name = name
        self.capabilities = Capabilities(objects=objects, cursor_field="modified")
        self.records: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []  # (op, id) in the order calls happened
        self.failures: list[ConnectorError] = []  # raised by the next write calls, first first
        self._keys: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._ticks = itertools.count(1)
        self._changes: list[tuple[datetime, str]] = []

    def _touch(self, record_id: str) -> None:
        self._changes.append((T0 + timedelta(seconds=next(self._ticks)), record_id))

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def _record(self, obj: str, record_id: str) -> ExternalRecord:
        stamp = max(at for at, rid in self._changes if rid == record_id)
        return ExternalRecord(object=obj, id=record_id, fields=dict(self.records[record_id]), modified_at=stamp)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        hits = [rid for rid, f in self.records.items() if all(f.get(k) == v for k, v in criteria.items())]
        return [self._record(obj, rid) for rid in hits[:limit]]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        return self._record(obj, record_id) if record_id in self.records else None

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        self._fail()
        if idempotency_key in self._keys:
            return self._record(obj, self._keys[idempotency_key])
        record_id = f"{self.name[:2]}-{next(self._ids)}"
        self.records[record_id] = dict(fields)
        self._keys[idempotency_key] = record_id
        self._touch(record_id)
        self.log.append(("create", record_id))
        return self._record(obj, record_id)

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._fail()
        if record_id not in self.records:
            raise NotFound(self.name, f"no {obj} {record_id}")
        self.records[record_id].update(fields)
        self._touch(record_id)
        self.log.append(("update", record_id))
        return self._record(obj, record_id)

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        found = self.search(obj, {external_id_field: external_id})
        if found:
            return self.update(obj, found[0].id, fields)
        return self.create(obj, {**fields, external_id_field: external_id}, idempotency_key=external_id)

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        start = int(cursor or 0)
        window = self._changes[start:start + 2]
        records = [self._record(obj, rid) for _, rid in window]
        end = start + len(window)
        return ChangePage(records=records, cursor=str(end), has_more=end < len(self._changes))

    def close(self) -> None:
        pass
