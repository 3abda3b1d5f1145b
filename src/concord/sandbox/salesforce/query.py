"""Running SOQL against the store, and the query-locator cursors behind `nextRecordsUrl` paging.

Like Salesforce, a query's result set is fixed when the query runs; later pages come from that snapshot.
Text compares case-insensitively; nulls sort first ascending and last descending unless NULLS says otherwise.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cmp_to_key

from concord.sandbox.salesforce.errors import ApiError, FieldError
from concord.sandbox.salesforce.ids import checksum
from concord.sandbox.salesforce.schema import JsonValue, Value
from concord.sandbox.salesforce.soql import Comparison, Condition, Logical, Negation, OrderItem, Query
from concord.sandbox.salesforce.soql_bind import Path
from concord.sandbox.salesforce.store import Row, Store
from concord.sandbox.salesforce.values import to_json

_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")


def _norm(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value


def _equal(left: Value, right: Value) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return _norm(left) == _norm(right)


def _like(value: Value, pattern: Value) -> bool:
    if value is None or not isinstance(pattern, str):
        return False
    parts = re.split(r"(\\.|%|_)", pattern)
    regex = "".join(".*" if p == "%" else "." if p == "_" else re.escape(p[1:] if p.startswith("\\") else p)
                    for p in parts)
    return re.fullmatch(regex, str(value), re.IGNORECASE | re.DOTALL) is not None


def _compare(op: str, left: Value, right: Value | tuple[Value, ...]) -> bool:
    if isinstance(right, tuple):
        found = any(_equal(left, item) for item in right)
        return found if op == "IN" else not found
    if op == "=":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "LIKE":
        return _like(left, right)
    if left is None or right is None:
        return False
    a, b = _norm(left), _norm(right)
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])  # type: ignore[operator]
    except TypeError:
        return False


@dataclass
class Executor:
    store: Store
    version: str

    def value(self, path: Path, row: Row) -> Value:
        if path.relationship is None:
            return row.get(path.field.name)
        parent = self._parent(path, row)
        return parent.get(path.field.name) if parent else None

    def _parent(self, path: Path, row: Row) -> Row | None:
        assert path.relationship is not None and path.parent is not None
        parent_id = row.get(path.relationship.name)
        return self.store.get(path.parent, str(parent_id)) if parent_id else None

    def matches(self, condition: Condition | None, row: Row) -> bool:
        if condition is None:
            return True
        if isinstance(condition, Comparison):
            return _compare(condition.op, self.value(condition.path, row), condition.value)
        if isinstance(condition, Negation):
            return not self.matches(condition.part, row)
        assert isinstance(condition, Logical)
        results = (self.matches(part, row) for part in condition.parts)
        return all(results) if condition.op == "AND" else any(results)

    def _order(self, rows: list[Row], items: tuple[OrderItem, ...]) -> list[Row]:
        def compare(a: Row, b: Row) -> int:
            for item in items:
                left, right = self.value(item.path, a), self.value(item.path, b)
                if left is None or right is None:
                    if left is None and right is None:
                        continue
                    return (1 if item.nulls_last else -1) * (1 if left is None else -1)
                left, right = _norm(left), _norm(right)
                if left != right:
                    result = -1 if left < right else 1  # type: ignore[operator]
                    return -result if item.descending else result
            return 0

        return sorted(rows, key=cmp_to_key(compare)) if items else rows

    def run(self, query: Query, include_deleted: bool) -> list[Row]:
        with self.store.lock:
            rows = [r for r in self.store.rows(query.obj, include_deleted) if self.matches(query.where, r)]
            rows = self._order(rows, query.order)
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset : end]

    def render(self, query: Query, row: Row) -> dict[str, JsonValue]:
        record: dict[str, JsonValue] = {"attributes": self._attributes(query.obj.name, str(row["Id"]))}
        for path in query.paths:
            if path.relationship is None:
                record[path.field.name] = to_json(path.field, row.get(path.field.name))
                continue
            assert path.parent is not None and path.relationship.relationship_name is not None
            key = path.relationship.relationship_name
            parent = self._parent(path, row)
            if parent is None:
                record[key] = None
                continue
            nested = record.get(key)
            if not isinstance(nested, dict):
                nested = record[key] = {"attributes": self._attributes(path.parent.name, str(parent["Id"]))}
            nested[path.field.name] = to_json(path.field, parent.get(path.field.name))
        return record

    def _attributes(self, sobject: str, record_id: str) -> dict[str, JsonValue]:
        return {"type": sobject, "url": f"/services/data/{self.version}/sobjects/{sobject}/{record_id}"}


@dataclass
class _Cursor:
    records: list[dict[str, JsonValue]]
    batch: int
    last_used: datetime


@dataclass
class Cursors:
    """Open query locators. A locator idle longer than `idle` is gone (INVALID_QUERY_LOCATOR)."""

    store: Store
    idle: timedelta
    _open: dict[str, _Cursor] = field(default_factory=dict)

    def first_page(self, version: str, endpoint: str, records: list[dict[str, JsonValue]],
                   batch: int) -> dict[str, JsonValue]:
        locator = None
        if len(records) > batch:
            id15 = "01g" + secrets.token_hex(6).upper()
            locator = id15 + checksum(id15)
            self._open[locator] = _Cursor(records, batch, self.store.now())
        return _page(version, endpoint, locator, records, 0, batch)

    def next_page(self, version: str, endpoint: str, token: str) -> dict[str, JsonValue]:
        match = _LOCATOR.match(token)
        cursor = self._open.get(match.group(1)) if match else None
        now = self.store.now()
        if match is None or cursor is None or now - cursor.last_used > self.idle:
            raise ApiError.of(400, FieldError("INVALID_QUERY_LOCATOR", "invalid query locator"))
        cursor.last_used = now
        return _page(version, endpoint, match.group(1), cursor.records, int(match.group(2)), cursor.batch)

    def reset(self) -> None:
        self._open.clear()


def _page(version: str, endpoint: str, locator: str | None, records: list[dict[str, JsonValue]], start: int,
          batch: int) -> dict[str, JsonValue]:
    end = start + batch
    page: dict[str, JsonValue] = {"totalSize": len(records), "done": end >= len(records)}
    if end < len(records):
        page["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{locator}-{end}"
    page["records"] = list(records[start:end])
    return page
