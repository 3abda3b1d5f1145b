"""SCIM Users and Groups as the connector sends and reads them: resource bodies and paths, /Bulk operations,
the change cursors and the change pages built from a listing, per-item bulk results. Pure: no client, no I/O
(the connector in `resources` does the calls; see its docstring for the exactly-once and change-capture rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel

from concord.connectors.base import ChangePage, ConnectorError, DataRejected, ExternalRecord
from concord.connectors.scim.client import JsonDict, filter_literal, last_modified, patch_body, record_of, writable
from concord.connectors.scim.config import SYSTEM

USERS, GROUPS = "Users", "Groups"
OBJECTS = (USERS, GROUPS)
SCHEMAS = {USERS: "urn:ietf:params:scim:schemas:core:2.0:User", GROUPS: "urn:ietf:params:scim:schemas:core:2.0:Group"}
EXTERNAL_ID = "externalId"
LAST_MODIFIED = "meta.lastModified"
_OFFSET = "at:"


class BulkItemResult(BaseModel):
    """What a bulk call did with one item, in the order the items were given. `existing`: the externalId was
    already there (made earlier, or by an attempt of this call whose answer was lost)."""

    external_id: str
    id: str | None = None
    action: Literal["created", "existing", "updated", "failed"]
    code: str | None = None
    message: str | None = None
    field: str | None = None


def failed_item(external_id: str, error: ConnectorError) -> BulkItemResult:
    rejected = error if isinstance(error, DataRejected) else None
    return BulkItemResult(external_id=external_id, action="failed", message=error.message,
                          code=rejected.code if rejected else type(error).__name__,
                          field=rejected.field if rejected else None)


# -- resources and operations ---------------------------------------------------------------------------
def resource_path(obj: str, record_id: str) -> str:
    return f"/{obj}/{quote(record_id, safe='')}"


def new_resource(obj: str, fields: Mapping[str, Any], external_id: str) -> JsonDict:
    return {"schemas": [SCHEMAS[obj]], **writable(fields), EXTERNAL_ID: external_id}


def merged_resource(obj: str, current: JsonDict, fields: Mapping[str, Any]) -> JsonDict:
    """The PUT body replacing `current` with `fields` merged in (for providers without PATCH)."""
    return {**writable(current), **writable(fields), "schemas": current.get("schemas") or [SCHEMAS[obj]]}


def bulk_creates(obj: str, chunk: list[tuple[str, dict[str, Any]]]) -> list[JsonDict]:
    """/Bulk POSTs of (externalId, fields) pairs, `bulkId` "item<position in chunk>"."""
    return [{"method": "POST", "path": f"/{obj}", "bulkId": f"item{i}", "data": new_resource(obj, fields, ext)}
            for i, (ext, fields) in enumerate(chunk)]


def bulk_patches(obj: str, chunk: list[tuple[int, str, str, dict[str, Any]]]) -> list[JsonDict]:
    """/Bulk PATCH `replace`s of (index, externalId, record id, fields), `bulkId` "item<index>"."""
    return [{"method": "PATCH", "path": resource_path(obj, rid), "bulkId": f"item{index}",
             "data": patch_body([{"op": "replace", "value": writable(fields)}])}
            for index, _, rid, fields in chunk]


def location_id(answer: Mapping[str, Any]) -> str | None:
    """The id at the end of a bulk answer's `location`, or None when it has none."""
    location = str(answer.get("location") or "")
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None


def members_of(group: ExternalRecord) -> list[str]:
    return [str(m.get("value")) for m in group.fields.get("members") or [] if isinstance(m, dict)]


# -- change capture -------------------------------------------------------------------------------------
def modified_cursor(cursor: str | None) -> tuple[str | None, frozenset[str]]:
    """`<meta.lastModified>|<id>,<id>`: the instant reached and the ids already delivered for it."""
    if not cursor:
        return None, frozenset()
    stamp, _, ids = cursor.partition("|")
    try:
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise DataRejected(SYSTEM, f"malformed change cursor {cursor!r}", field="cursor") from None
    return stamp, frozenset(part for part in ids.split(",") if part)


def modified_params(cursor: str | None, size: int) -> dict[str, str | int]:
    """A page sorted by lastModified from the cursor's instant on, with room for the ids it will skip."""
    stamp, seen = modified_cursor(cursor)
    params: dict[str, str | int] = {"sortBy": LAST_MODIFIED, "sortOrder": "ascending", "startIndex": 1,
                                    "count": size + len(seen)}
    if stamp is not None:
        params["filter"] = f"{LAST_MODIFIED} ge {filter_literal(stamp)}"
    return params


def modified_page(obj: str, body: JsonDict, cursor: str | None, size: int) -> ChangePage:
    """The change page in a `modified_params` listing: the ids already delivered for the cursor's instant
    are dropped; the new cursor keeps those of the page's last instant."""
    stamp, seen = modified_cursor(cursor)
    resources: list[JsonDict] = list(body.get("Resources") or [])
    fresh = [r for r in resources if not (last_modified(r) == stamp and str(r.get("id")) in seen)]
    page = fresh[:size]
    has_more = len(fresh) > size or int(body.get("totalResults") or 0) > len(resources)
    if not page:
        return ChangePage(records=[], cursor=cursor, has_more=has_more)
    last = last_modified(page[-1]) or ""
    ids = {str(r.get("id")) for r in page if last_modified(r) == last} | (set(seen) if last == stamp else set())
    return ChangePage(records=[record_of(obj, r) for r in page], cursor=f"{last}|{','.join(sorted(ids))}",
                      has_more=has_more)


def listing_start(cursor: str | None) -> int:
    """The `startIndex` a full-listing cursor ("at:<index>") points at; 1 without a cursor."""
    raw = (cursor or "").removeprefix(_OFFSET)
    if cursor and (not cursor.startswith(_OFFSET) or not raw.isdigit()):
        raise DataRejected(SYSTEM, f"malformed change cursor {cursor!r}", field="cursor")
    return int(raw) if raw else 1


def listing_page(obj: str, body: JsonDict, start: int) -> ChangePage:
    """The change page in a full listing from `start`; the last page's cursor is None (start over)."""
    resources: list[JsonDict] = list(body.get("Resources") or [])
    following = start + len(resources)
    has_more = bool(resources) and following <= int(body.get("totalResults") or 0)
    return ChangePage(records=[record_of(obj, r) for r in resources],
                      cursor=f"{_OFFSET}{following}" if has_more else None, has_more=has_more)
