"""The pure half of the SCIM connector: change pages from a listing, cursors, bulk operations."""

from __future__ import annotations

import pytest

from concord.connectors.base import DataRejected
from concord.connectors.scim.objects import (
    bulk_patches,
    listing_page,
    listing_start,
    location_id,
    modified_page,
    modified_params,
)


def user(user_id: str, stamp: str) -> dict[str, object]:
    return {"id": user_id, "userName": f"{user_id}@x.test", "meta": {"lastModified": stamp}}


def test_modified_page_skips_the_ids_already_delivered_for_the_cursor_instant() -> None:
    t1, t2 = "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"
    body = {"totalResults": 3, "Resources": [user("a", t1), user("b", t1), user("c", t2)]}
    page = modified_page("Users", body, f"{t1}|a", size=1)
    assert [r.id for r in page.records] == ["b"] and page.has_more
    assert page.cursor == f"{t1}|a,b"  # still at t1: the ids seen there are kept
    last = modified_page("Users", body, f"{t1}|a,b", size=5)
    assert [r.id for r in last.records] == ["c"] and last.cursor == f"{t2}|c" and not last.has_more


def test_modified_params_make_room_for_the_skipped_ids_and_refuse_a_bad_cursor() -> None:
    params = modified_params("2026-01-01T00:00:01Z|a,b", 10)
    assert params["count"] == 12 and params["filter"] == 'meta.lastModified ge "2026-01-01T00:00:01Z"'
    assert "filter" not in modified_params(None, 10)
    with pytest.raises(DataRejected):
        modified_params("yesterday|a", 10)


def test_full_listing_pages_end_with_no_cursor() -> None:
    t1 = "2026-01-01T00:00:01Z"
    assert listing_start(None) == 1 and listing_start("at:11") == 11
    with pytest.raises(DataRejected):
        listing_start("11")
    middle = listing_page("Users", {"totalResults": 3, "Resources": [user("a", t1), user("b", t1)]}, 1)
    assert middle.cursor == "at:3" and middle.has_more
    end = listing_page("Users", {"totalResults": 3, "Resources": [user("c", t1)]}, 3)
    assert end.cursor is None and not end.has_more


def test_bulk_operations_and_answers() -> None:
    ops = bulk_patches("Users", [(4, "ext-4", "u/4", {"id": "u/4", "active": False})])
    assert ops == [{"method": "PATCH", "path": "/Users/u%2F4", "bulkId": "item4", "data": {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}]}}]
    assert location_id({"location": "https://x.test/scim/v2/Users/42/"}) == "42"
    assert location_id({"status": "201"}) is None
