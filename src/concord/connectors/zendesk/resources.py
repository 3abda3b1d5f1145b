"""The Zendesk Support connector: organizations and users, keyed by `external_id`.

Exactly-once writes without an idempotency header: Zendesk has none, so `create` stores the idempotency key
in `external_id` (unless the caller gave one) and writes with `create_or_update`, which matches on it; a
repeated create therefore finds the first record instead of adding a second. Bulk writes go through
`create_many` (organizations) or `create_or_update_many` (users) jobs; organization names and external ids
are unique per account, so a replayed `create_many` fails item by item with `DuplicateValue`, and those
items are looked up by external id and updated instead (`update_many`).

Change capture uses the incremental exports: time-based for organizations (the only kind they offer), whose
pages repeat the records of their last second — the cursor remembers which of those were delivered — and
cursor-based for users. Exports refuse a `start_time` inside the last minute; that is "nothing new yet".
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from pydantic import BaseModel

from concord.connectors.base import (
    Capabilities,
    ChangePage,
    ConnectorError,
    DataRejected,
    ExternalRecord,
    NotFound,
)
from concord.connectors.runtime.clock import Clock
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.http import CallRecorder
from concord.connectors.zendesk.auth import TokenRefresher, ZendeskAuth
from concord.connectors.zendesk.client import JsonDict, TooRecentStartTime, ZendeskClient
from concord.connectors.zendesk.config import SYSTEM, ZendeskConfig

OBJECTS = ("organizations", "users")
EXTERNAL_ID = "external_id"
_ROOT = {"organizations": "organization", "users": "user"}
_SEARCH_KEYS = {"organizations": ("external_id", "name"), "users": ("external_id", "email", "query")}
_READ_ONLY = frozenset({"id", "url", "created_at", "updated_at"})
_LABEL = re.compile(r"^\s*([A-Z][A-Za-z ]*?)\s*:")


class BulkItemResult(BaseModel):
    """What a bulk job did with one item, in the order the items were given."""

    external_id: str
    id: str | None = None
    action: Literal["created", "updated", "failed"]
    code: str | None = None
    message: str | None = None
    field: str | None = None


def _epoch(stamp: object) -> int | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def row_version(row: JsonDict) -> str:
    """A digest of the row: `updated_at` is to the second, so two changes within one second differ only in
    content (decision 079)."""
    return hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:12]


def record_of(obj: str, row: JsonDict) -> ExternalRecord:
    epoch = _epoch(row.get("updated_at"))
    modified = None if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return ExternalRecord(object=obj, id=str(row.get("id")), fields=dict(row), modified_at=modified,
                          version=row_version(row))


def _delivered(row: JsonDict) -> str:
    return f"{row.get('id')}@{row_version(row)}"


def field_from_details(details: str) -> str | None:
    """Job results carry 'Name: cannot be blank'; the label before the colon names the field."""
    match = _LABEL.match(details)
    return None if match is None else match.group(1).strip().lower().replace(" ", "_")


def _failed(external_id: str, entry: JsonDict) -> BulkItemResult:
    details = str(entry.get("details") or "")
    return BulkItemResult(
        external_id=external_id,
        action="failed",
        code=str(entry.get("error") or "Failed"),
        message=details or None,
        field=field_from_details(details),
    )


def _same(value: object, wanted: object) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    return value == wanted


def _time_cursor(cursor: str | None) -> tuple[int, frozenset[str]]:
    """`<end_time>` or `<end_time>:<id>@<version>,...` (changes of that second already delivered; a bare
    `<id>`, as cursors before decision 079 wrote, stands for any version of the record)."""
    if not cursor:
        return 0, frozenset()
    stamp, _, ids = cursor.partition(":")
    if not stamp.isdigit():
        raise DataRejected(SYSTEM, f"malformed change cursor {cursor!r}", field="cursor")
    return int(stamp), frozenset(part for part in ids.split(",") if part)


def _encode_time_cursor(end_time: int, ids: set[str]) -> str:
    return f"{end_time}:{','.join(sorted(ids))}" if ids else str(end_time)


class ZendeskConnector:
    """The Connector protocol over the Support API; see the module docstring."""

    name = SYSTEM

    def __init__(
        self,
        config: ZendeskConfig,
        *,
        refresher: TokenRefresher | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        auth = ZendeskAuth(config, refresher)
        self.client = ZendeskClient(
            config, auth, clock=clock, transport=transport, governor=governor, recorder=recorder, rng=rng
        )
        self.capabilities = Capabilities(
            objects=OBJECTS,
            bulk_batch_size=config.bulk_batch_size,
            upsert_by_external_id=True,
            idempotency_header=None,
            webhooks=False,
            cursor_field="updated_at",
            rate_limit=config.rate_limit,
            change_time_resolution_s=1.0,  # updated_at is to the second
        )

    # -- Connector protocol -----------------------------------------------------------------------------
    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        """Search by `external_id` (exact), organization `name`, user `email` or a raw user `query`.

        The most selective criterion goes to Zendesk; any others filter its answer here.
        """
        self._check(obj)
        unknown = [key for key in criteria if key not in _SEARCH_KEYS[obj]]
        if unknown or not criteria:
            key = unknown[0] if unknown else None
            raise DataRejected(SYSTEM, f"cannot search {obj} by {key!r}", field=key, code="unsupported_criterion")
        primary = next(key for key in _SEARCH_KEYS[obj] if key in criteria)
        value = str(criteria[primary])
        params: dict[str, str | int] = {"query": f"email:{value}"} if primary == "email" else {primary: value}
        rest = {k: v for k, v in criteria.items() if k not in (primary, "query")}
        rows = self._search_rows(obj, params, limit)
        rows = [row for row in rows if all(_same(row.get(k), v) for k, v in rest.items())]
        return [record_of(obj, row) for row in rows[:limit]]

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._check(obj)
        if not record_id.isdigit():
            return None
        try:
            body = self.client.call("GET", f"/api/v2/{obj}/{record_id}", f"{obj}.show")
        except NotFound:
            return None
        return record_of(obj, body[_ROOT[obj]])

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        """Create once per key: the key becomes `external_id` when the caller gave none."""
        self._check(obj)
        payload = {k: v for k, v in fields.items() if k not in _READ_ONLY}
        if not payload.get(EXTERNAL_ID):
            payload[EXTERNAL_ID] = idempotency_key
        return self._create_or_update(obj, payload)

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._check(obj)
        if not record_id.isdigit():
            raise NotFound(SYSTEM, f"{obj} {record_id!r} does not exist")
        payload = {k: v for k, v in fields.items() if k not in _READ_ONLY}
        body = self.client.call("PUT", f"/api/v2/{obj}/{record_id}", f"{obj}.update", body={_ROOT[obj]: payload})
        return record_of(obj, body[_ROOT[obj]])

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        self._check(obj)
        if external_id_field != EXTERNAL_ID:
            raise DataRejected(SYSTEM, f"{obj} upsert by external_id only, not {external_id_field!r}",
                               field=external_id_field, code="unsupported_external_id")
        payload = {k: v for k, v in fields.items() if k not in _READ_ONLY}
        return self._create_or_update(obj, {**payload, EXTERNAL_ID: external_id})

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        self._check(obj)
        if obj == "users":
            return self._user_changes(cursor)
        return self._organization_changes(cursor)

    def rate_keys(self) -> list[GovernedKey]:
        """`RateGoverned`: the buckets this connector's calls spend, for headroom metrics and charts."""
        return [GovernedKey(self.client.governor, key) for key in (self.client.key, self.client.incremental_key)]

    def close(self) -> None:
        self.client.close()

    # -- bulk -------------------------------------------------------------------------------------------
    def upsert_many(self, obj: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        """Upsert (external_id, fields) pairs in jobs of `bulk_batch_size`, each polled to completion.

        Safe to call again with the same items after any failure: it converges on one record per external id.
        """
        self._check(obj)
        results: list[BulkItemResult] = []
        size = self.config.bulk_batch_size
        for start in range(0, len(items), size):
            batch = list(items[start : start + size])
            results.extend(self._users_batch(batch) if obj == "users" else self._organizations_batch(batch))
        return results

    def _organizations_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        payloads = [self._payload(ext, fields) for ext, fields in batch]
        job = self._run_job("POST", "/api/v2/organizations/create_many", "organizations.create_many",
                            {"organizations": payloads})
        outcome: dict[int, BulkItemResult] = {}
        existing: dict[str, int] = {}  # org id -> index
        for entry in job.get("results") or []:
            index = entry.get("index")
            if not isinstance(index, int) or not 0 <= index < len(batch):
                continue
            ext = batch[index][0]
            if entry.get("id") is not None and not entry.get("error"):
                outcome[index] = BulkItemResult(external_id=ext, id=str(entry["id"]), action="created")
                continue
            # A replayed job, or a record made earlier: the external id finds it, and we update it instead.
            found = self._find_external("organizations", ext) if entry.get("error") == "DuplicateValue" else None
            if found is None:
                outcome[index] = _failed(ext, entry)
            else:
                existing[found.id] = index
        if existing:
            self._update_organizations(batch, payloads, existing, outcome)
        return [outcome.get(i) or _failed(ext, {"error": "NoResult"}) for i, (ext, _) in enumerate(batch)]

    def _update_organizations(
        self,
        batch: list[tuple[str, dict[str, Any]]],
        payloads: list[JsonDict],
        existing: dict[str, int],
        outcome: dict[int, BulkItemResult],
    ) -> None:
        updates = [{**payloads[index], "id": int(org_id)} for org_id, index in existing.items()]
        job = self._run_job("PUT", "/api/v2/organizations/update_many", "organizations.update_many",
                            {"organizations": updates})
        for entry in job.get("results") or []:
            index = existing.get(str(entry.get("id")))
            if index is None:
                continue
            ext = batch[index][0]
            if entry.get("success") is False or entry.get("error"):
                outcome[index] = _failed(ext, entry)
            else:
                outcome[index] = BulkItemResult(external_id=ext, id=str(entry["id"]), action="updated")

    def _users_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> list[BulkItemResult]:
        payloads = [self._payload(ext, fields) for ext, fields in batch]
        job = self._run_job("POST", "/api/v2/users/create_or_update_many", "users.create_or_update_many",
                            {"users": payloads})
        entries = list(job.get("results") or [])
        outcome: list[BulkItemResult] = []
        for position, (ext, _) in enumerate(batch):
            # Failures name their index; successes come back in request order.
            entry = next((e for e in entries if e.get("index") == position), None)
            if entry is None and position < len(entries) and "index" not in entries[position]:
                entry = entries[position]
            if entry is None or entry.get("error") or entry.get("status") == "Failed":
                outcome.append(_failed(ext, entry or {"error": "NoResult"}))
                continue
            action: Literal["created", "updated"] = "created" if entry.get("status") == "Created" else "updated"
            outcome.append(BulkItemResult(external_id=ext, id=str(entry.get("id")), action=action))
        return outcome

    # -- internals --------------------------------------------------------------------------------------
    def _check(self, obj: str) -> None:
        if obj not in OBJECTS:
            raise DataRejected(SYSTEM, f"object {obj!r} is not supported (only {OBJECTS})", code="unknown_object")

    @staticmethod
    def _payload(external_id: str, fields: dict[str, Any]) -> JsonDict:
        return {**{k: v for k, v in fields.items() if k not in _READ_ONLY}, EXTERNAL_ID: external_id}

    def _run_job(self, method: str, path: str, operation: str, body: JsonDict) -> JsonDict:
        queued = self.client.call(method, path, operation, body=body)["job_status"]
        return self.client.wait_for_job(queued)

    def _create_or_update(self, obj: str, payload: JsonDict) -> ExternalRecord:
        root = _ROOT[obj]
        body = self.client.call("POST", f"/api/v2/{obj}/create_or_update", f"{obj}.create_or_update",
                                body={root: payload})
        return record_of(obj, body[root])

    def _find_external(self, obj: str, external_id: str) -> ExternalRecord | None:
        found = self.search(obj, {EXTERNAL_ID: external_id}, limit=2)
        if len(found) > 1:
            raise ConnectorError(SYSTEM, f"{len(found)} {obj} share external_id {external_id!r}")
        return found[0] if found else None

    def _search_rows(self, obj: str, params: dict[str, str | int], limit: int) -> list[JsonDict]:
        """Offset pages of `/{obj}/search`, page by page until `limit` rows or the last page."""
        rows: list[JsonDict] = []
        per_page = min(max(limit, 1), self.config.page_size)
        page = 1
        while len(rows) < limit:
            query = {**params, "page": page, "per_page": per_page}
            body = self.client.call("GET", f"/api/v2/{obj}/search", f"{obj}.search", params=query)
            rows.extend(body.get(obj) or [])
            if not body.get("next_page"):
                break
            page += 1
        return rows

    def _organization_changes(self, cursor: str | None) -> ChangePage:
        start, seen = _time_cursor(cursor)
        params = {"start_time": start, "per_page": self.config.incremental_per_page}
        try:
            body = self.client.call("GET", "/api/v2/incremental/organizations", "incremental.organizations",
                                    params=params, incremental=True)
        except TooRecentStartTime:
            return ChangePage(records=[], cursor=cursor, has_more=False)
        rows: list[JsonDict] = list(body.get("organizations") or [])
        # A record of the boundary second was delivered only if this very version was: another change of it
        # within the same second is new.
        fresh = [r for r in rows if not (_epoch(r.get("updated_at")) == start
                                         and ({str(r.get("id")), _delivered(r)} & seen))]
        end_time = int(body.get("end_time") or start)
        done = bool(body.get("end_of_stream", True))
        if not done and end_time == start and not fresh:
            # More records share one second than a page holds: the time-based export cannot page past them.
            message = f"over {len(rows)} organizations changed at {start}; raise incremental_per_page"
            raise ConnectorError(SYSTEM, message)
        delivered = {_delivered(r) for r in rows if _epoch(r.get("updated_at")) == end_time}
        if end_time == start:
            delivered |= seen
        next_cursor = _encode_time_cursor(end_time, delivered)
        return ChangePage(records=[record_of("organizations", r) for r in fresh], cursor=next_cursor, has_more=not done)

    def _user_changes(self, cursor: str | None) -> ChangePage:
        params: dict[str, str | int] = {"per_page": self.config.incremental_per_page}
        if cursor:
            params["cursor"] = cursor
        else:
            params["start_time"] = 0
        try:
            body = self.client.call("GET", "/api/v2/incremental/users/cursor", "incremental.users",
                                    params=params, incremental=True)
        except TooRecentStartTime:
            return ChangePage(records=[], cursor=cursor, has_more=False)
        rows: list[JsonDict] = list(body.get("users") or [])
        next_cursor = str(body.get("after_cursor") or cursor or "") or None
        done = bool(body.get("end_of_stream", True))
        return ChangePage(records=[record_of("users", r) for r in rows], cursor=next_cursor, has_more=not done)
