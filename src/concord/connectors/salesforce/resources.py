"""`SalesforceConnector`: Account, Contact and Opportunity through the Connector contract.

Record shape. `ExternalRecord.fields` is the sObject as REST returns it, without `attributes`, in Salesforce's
own field names (`Name`, `BillingCity`, `Concord_Id__c`, ...). Reads select every field the describe result
names, or the fields `SalesforceConfig.fields` lists for the object.

Exactly once. Salesforce has no idempotency header. `create` writes the idempotency key into the unique
external-id field `Concord_Id__c` (the caller's own value wins when it sets one), so a repeated create of
the same key, or a retry after a lost answer, hits `DUPLICATE_VALUE` and returns the record that exists.
`upsert` and `upsert_many` go by external id and are idempotent by nature; PATCH updates are too.

Change capture. `changes_since` runs SOQL through `queryAll` (so deletions show up as `IsDeleted`) ordered
by `SystemModstamp, Id`, resuming strictly after the last (stamp, id) delivered: records sharing one
millisecond are neither skipped nor repeated across pages. Within a page it follows `nextRecordsUrl`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from concord.connectors.base import (
    Capabilities,
    ChangePage,
    ConnectorError,
    DataRejected,
    ExternalRecord,
    NotFound,
    RetryableError,
)
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import Headroom, RateGovernor
from concord.connectors.runtime.http import CallRecorder
from concord.connectors.salesforce.client import (
    DuplicateValue,
    JsonObject,
    SalesforceClient,
    as_list,
    as_object,
    rate_limit,
    record_error,
    soql_condition,
    soql_datetime,
    soql_name,
    soql_string,
)
from concord.connectors.salesforce.config import CURSOR_FIELD, SYSTEM, SalesforceConfig

_NOT_WRITABLE = frozenset({"attributes", "id"})
_ALWAYS_SELECTED = ("Id", "IsDeleted", CURSOR_FIELD)


@dataclass(frozen=True)
class UpsertResult:
    """One record of `upsert_many`, in input order: its id and whether it was created, or its error."""

    external_id: str
    id: str | None = None
    created: bool | None = None
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChangeCursor:
    """Everything up to (`stamp`, `last_id`) in (SystemModstamp, Id) order was delivered."""

    stamp: datetime
    last_id: str

    def encode(self) -> str:
        return f"{soql_datetime(self.stamp)}|{self.last_id}"

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        stamp, _, last_id = text.partition("|")
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or not last_id.isalnum():
            raise DataRejected(SYSTEM, f"not a Salesforce change cursor: {text!r}", code="INVALID_CURSOR")
        return cls(parsed, last_id)


@dataclass(frozen=True)
class _Item:
    index: int
    key: str
    payload: JsonObject


def parse_stamp(value: object) -> datetime | None:
    """Salesforce datetimes (`2024-01-31T09:15:00.000+0000`) as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def writable(fields: Mapping[str, Any], drop: str | None = None) -> JsonObject:
    """A write body: no `attributes`/`Id` (they go in the URL), optionally without one more field."""
    skip = _NOT_WRITABLE | ({drop.lower()} if drop else set())
    return {name: _jsonable(value) for name, value in fields.items() if name.lower() not in skip}


def _get(fields: Mapping[str, Any], name: str) -> Any:
    """Field names are case-insensitive in Salesforce bodies."""
    lowered = name.lower()
    return next((value for key, value in fields.items() if key.lower() == lowered), None)


def capabilities_for(config: SalesforceConfig) -> Capabilities:
    return Capabilities(
        objects=config.objects,
        bulk_batch_size=config.batch_size,
        upsert_by_external_id=True,
        idempotency_header=None,
        webhooks=False,
        cursor_field=CURSOR_FIELD,
        rate_limit=rate_limit(config),
        change_time_resolution_s=0.001,  # SystemModstamp carries milliseconds
    )


class SalesforceConnector:
    """The Connector protocol over Salesforce REST, plus `upsert_many` over sObject Collections."""

    name = SYSTEM

    def __init__(
        self,
        config: SalesforceConfig,
        clock: Clock | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.client = SalesforceClient(config, self._clock, governor, recorder, transport, self._rng)
        self.capabilities = capabilities_for(config)
        self._fields: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _object(self, obj: str) -> str:
        canonical = next((name for name in self.config.objects if name.lower() == obj.lower()), None)
        if canonical is None:
            raise DataRejected(SYSTEM, f"sObject {obj!r} is not configured", code="INVALID_TYPE")
        return canonical

    def _path(self, suffix: str) -> str:
        return self.config.data_path(suffix)

    def select_fields(self, obj: str) -> tuple[str, ...]:
        """The configured fields, else every field of the describe result (fetched once per object)."""
        with self._lock:
            cached = self._fields.get(obj)
        if cached is not None:
            return cached
        names = self.config.fields.get(obj)
        if names is None:
            described = as_object(self.client.call("GET", self._path(f"sobjects/{obj}/describe"),
                                                    "sobject.describe"), "describe")
            names = tuple(str(field["name"]) for field in described.get("fields", []) if "name" in field)
        chosen = tuple(dict.fromkeys([*_ALWAYS_SELECTED, *(soql_name(name) for name in names)]))
        with self._lock:
            self._fields[obj] = chosen
        return chosen

    def _record(self, obj: str, raw: Mapping[str, Any]) -> ExternalRecord:
        fields = {name: value for name, value in raw.items() if name != "attributes"}
        return ExternalRecord(
            object=obj,
            id=str(fields.get("Id") or ""),
            fields=fields,
            modified_at=parse_stamp(fields.get(CURSOR_FIELD)),
            deleted=bool(fields.get("IsDeleted")),
        )

    def _query(self, soql: str, endpoint: str, limit: int) -> list[JsonObject]:
        """Run SOQL and follow `nextRecordsUrl` until `limit` rows or the end of the result."""
        headers = {}
        if self.config.query_batch_size is not None:
            headers["Sforce-Query-Options"] = f"batchSize={self.config.query_batch_size}"
        page = as_object(self.client.call("GET", self._path(endpoint), endpoint, params={"q": soql},
                                          headers=headers), endpoint)
        rows = [as_object(row, endpoint) for row in page.get("records", [])]
        while len(rows) < limit and not page.get("done", True) and page.get("nextRecordsUrl"):
            page = as_object(self.client.call("GET", str(page["nextRecordsUrl"]), f"{endpoint}.more",
                                              headers=headers), endpoint)
            rows.extend(as_object(row, endpoint) for row in page.get("records", []))
        return rows[:limit]

    def _read_required(self, obj: str, record_id: str) -> ExternalRecord:
        record = self.read(obj, record_id)
        if record is None:
            raise NotFound(SYSTEM, f"{obj} {record_id} vanished right after a write")
        return record

    def by_external_id(self, obj: str, field: str, value: str) -> ExternalRecord | None:
        obj = self._object(obj)
        path = self._path(f"sobjects/{obj}/{soql_name(field)}/{quote(value, safe='')}")
        try:
            raw = self.client.call("GET", path, "sobject.read_by_external_id")
        except NotFound:
            return None
        return self._record(obj, as_object(raw, "record"))

    # -- the Connector protocol -------------------------------------------------------------------------

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        obj = self._object(obj)
        where = " AND ".join(soql_condition(name, value) for name, value in criteria.items())
        soql = f"SELECT {', '.join(self.select_fields(obj))} FROM {obj}"
        soql += f" WHERE {where}" if where else ""
        soql += f" ORDER BY Id LIMIT {max(int(limit), 1)}"
        return [self._record(obj, row) for row in self._query(soql, "query", limit)]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        obj = self._object(obj)
        try:
            raw = self.client.call("GET", self._path(f"sobjects/{obj}/{quote(record_id, safe='')}"),
                                   "sobject.read")
        except NotFound:
            return None
        return self._record(obj, as_object(raw, "record"))

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        obj = self._object(obj)
        ext = self.config.external_id_field
        key = str(_get(fields, ext) or idempotency_key)
        body = {**writable(fields, drop=ext), ext: key}
        try:
            answer = as_object(self.client.call("POST", self._path(f"sobjects/{obj}"), "sobject.create",
                                                body=body, write=True), "create")
        except DuplicateValue as duplicate:
            # Our key already names a record: an earlier attempt (or an earlier create) made it.
            existing = None
            if duplicate.field is None or duplicate.field.lower() == ext.lower():
                existing = self.by_external_id(obj, ext, key)
            if existing is None:
                raise
            return existing
        return self._read_required(obj, str(answer["id"]))

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        obj = self._object(obj)
        path = self._path(f"sobjects/{obj}/{quote(record_id, safe='')}")
        self.client.call("PATCH", path, "sobject.update", body=writable(fields), write=True)
        return self._read_required(obj, record_id)

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        obj = self._object(obj)
        path = self._path(f"sobjects/{obj}/{soql_name(external_id_field)}/{quote(external_id, safe='')}")
        # The key travels in the URL; repeating it in the body is allowed only with the same value.
        body = writable(fields, drop=external_id_field)
        answer = self.client.call("PATCH", path, "sobject.upsert", body=body, write=True)
        if isinstance(answer, dict) and answer.get("id"):
            return self._read_required(obj, str(answer["id"]))
        # API 45.0 and earlier answer an update with 204 and no id.
        found = self.by_external_id(obj, external_id_field, external_id)
        if found is None:
            raise NotFound(SYSTEM, f"{obj} {external_id_field}={external_id} vanished right after an upsert")
        return found

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        obj = self._object(obj)
        after = ChangeCursor.decode(cursor) if cursor else None
        soql = f"SELECT {', '.join(self.select_fields(obj))} FROM {obj}"
        if after is not None:
            stamp = soql_datetime(after.stamp)
            soql += (f" WHERE {CURSOR_FIELD} > {stamp} OR ({CURSOR_FIELD} = {stamp} AND Id > "
                     f"{soql_string(after.last_id)})")
        size = self.config.changes_page_size
        soql += f" ORDER BY {CURSOR_FIELD} ASC, Id ASC LIMIT {size}"
        records = [self._record(obj, row) for row in self._query(soql, "queryAll", size)]
        if not records:
            return ChangePage(records=[], cursor=cursor, has_more=False)
        last = records[-1]
        if last.modified_at is None:
            raise RetryableError(SYSTEM, f"{obj} {last.id} came back without {CURSOR_FIELD}")
        next_cursor = ChangeCursor(last.modified_at, last.id).encode()
        return ChangePage(records=records, cursor=next_cursor, has_more=len(records) >= size)

    def quota_headroom(self) -> Headroom:
        """What is left of the org's rolling daily API allowance, as `Sforce-Limit-Info` last reported it."""
        return self.client.headroom()

    def rate_keys(self) -> list[GovernedKey]:
        """`RateGoverned`: the bucket this connector's calls spend, for headroom metrics and charts."""
        return [GovernedKey(self.client.governor, self.client.key)]

    def close(self) -> None:
        self.client.close()

    # -- bulk upsert over sObject Collections ----------------------------------------------------------

    def upsert_many(self, obj: str, ext_field: str, records: Sequence[Mapping[str, Any]]) -> list[UpsertResult]:
        """Upsert by `ext_field` in calls of at most `batch_size` records; one result per record, in order.

        A whole call that fails transiently is retried by the runtime (an upsert repeats safely); records
        refused for a transient cause (`UNABLE_TO_LOCK_ROW`, ...) are sent again; data errors come back as
        `DataRejected` (or `DuplicateValue`) on their record. A whole call refused for its data is split
        until the offending records stand alone, so one bad record does not sink its 199 neighbours.
        """
        obj = self._object(obj)
        soql_name(ext_field)
        results: dict[int, UpsertResult] = {}
        items: list[_Item] = []
        for index, fields in enumerate(records):
            key = _get(fields, ext_field)
            if key in (None, ""):
                missing = DataRejected(SYSTEM, f"record {index} has no {ext_field}", field=ext_field,
                                       code="REQUIRED_FIELD_MISSING")
                results[index] = UpsertResult("", error=missing)
                continue
            payload = {"attributes": {"type": obj}, **writable(fields, drop=ext_field), ext_field: str(key)}
            items.append(_Item(index, str(key), payload))
        size = self.config.batch_size
        for start in range(0, len(items), size):
            results.update(self._upsert_chunk(obj, ext_field, items[start : start + size]))
        return [results[index] for index in range(len(records))]

    def _upsert_chunk(self, obj: str, ext_field: str, items: list[_Item]) -> dict[int, UpsertResult]:
        done: dict[int, UpsertResult] = {}
        pending = items
        policy = self.client.retrier.policy
        for round_number in range(1, policy.max_attempts + 1):
            retry: list[_Item] = []
            for item, outcome in self._send_collection(obj, ext_field, pending):
                if isinstance(outcome, RetryableError):
                    retry.append(item)
                    done[item.index] = UpsertResult(item.key, error=outcome)
                else:
                    done[item.index] = outcome
            if not retry:
                break
            pending = retry
            if round_number < policy.max_attempts:
                self._clock.sleep(policy.backoff(round_number, self._rng))
        return done

    def _send_collection(
        self, obj: str, ext_field: str, items: list[_Item]
    ) -> list[tuple[_Item, UpsertResult | RetryableError]]:
        body = {"allOrNone": False, "records": [item.payload for item in items]}
        path = self._path(f"composite/sobjects/{obj}/{ext_field}")
        try:
            answer = as_list(self.client.call("PATCH", path, "collections.upsert", body=body, write=True),
                             "collections upsert")
        except DataRejected as rejected:
            if len(items) == 1:
                return [(items[0], UpsertResult(items[0].key, error=rejected))]
            middle = len(items) // 2
            return (self._send_collection(obj, ext_field, items[:middle])
                    + self._send_collection(obj, ext_field, items[middle:]))
        if len(answer) != len(items):
            raise RetryableError(SYSTEM, f"collections upsert answered {len(answer)} results for {len(items)}")
        return [(item, self._outcome(item, entry)) for item, entry in zip(items, answer, strict=True)]

    @staticmethod
    def _outcome(item: _Item, entry: Any) -> UpsertResult | RetryableError:
        result = entry if isinstance(entry, dict) else {}
        if result.get("success"):
            created = result.get("created")
            return UpsertResult(item.key, id=str(result.get("id")),
                                created=created if isinstance(created, bool) else None)
        errors = result.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        error = record_error(str(first.get("statusCode", "")), str(first.get("message", "")), first.get("fields"))
        return error if isinstance(error, RetryableError) else UpsertResult(item.key, error=error)
