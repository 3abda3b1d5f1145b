"""Change capture when HubSpot orders equal stamps arbitrarily (its search sorts on one property only).

The twin breaks ties by id, which hides cursor bugs; this scripted search endpoint breaks them in
*descending* id order, the worst case for a cursor that remembers "the highest id seen at this stamp".
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import SecretStr

from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
from concord.connectors.hubspot.client import JsonObject
from concord.sandbox.hubspot.timefmt import iso_from_ms, ms_from_text
from tests.connectors.hubspot.support import TOKEN, SteppingClock


def _ms(stamp: str) -> int:
    parsed = ms_from_text(stamp)
    assert parsed is not None
    return parsed


class AdversarialSearch:
    """POST /crm/v3/objects/companies/search over (id, stamp) rows: EQ/GT filters, one sort, `limit`."""

    def __init__(self, rows: list[tuple[int, int]]) -> None:
        self.rows = rows
        self.calls = 0

    def _matches(self, row: tuple[int, int], group: JsonObject) -> bool:
        values = {"hs_object_id": row[0], "hs_lastmodifieddate": row[1]}
        for f in group["filters"]:
            left, right = values[f["propertyName"]], int(f["value"])
            if not (left == right if f["operator"] == "EQ" else left > right):
                return False
        return True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = json.loads(request.content)
        hits = [r for r in self.rows if any(self._matches(r, g) for g in body["filterGroups"])]
        by_stamp = body["sorts"][0]["propertyName"] == "hs_lastmodifieddate"
        # Ties on the stamp come back highest id first.
        hits.sort(key=(lambda r: (r[1], -r[0])) if by_stamp else (lambda r: r[0]))
        page = hits[: body["limit"]]
        results = [{"id": str(i), "properties": {"hs_object_id": str(i), "hs_lastmodifieddate": iso_from_ms(ts)}}
                   for i, ts in page]
        answer: JsonObject = {"total": len(hits), "results": results}
        if len(hits) > len(page):
            answer["paging"] = {"next": {"after": str(len(page))}}
        return httpx.Response(200, json=answer)


@pytest.fixture
def rows() -> list[tuple[int, int]]:
    shuffled = random.Random(3)
    base = 1_700_000_000_000
    stamps = [base] * 7 + [base + 1] * 2 + [base + 2] * 4 + [base + 3]
    ids = list(range(1, len(stamps) + 1))
    shuffled.shuffle(ids)  # ids are not in stamp order either
    return sorted(zip(ids, stamps, strict=True), key=lambda r: r[1])


@contextmanager
def scripted(rows: list[tuple[int, int]], page_size: int) -> Iterator[tuple[HubSpotConnector, AdversarialSearch]]:
    search = AdversarialSearch(rows)
    config = HubSpotConfig(base_url="https://api.hubapi.test", access_token=SecretStr(TOKEN),
                           search_page_size=page_size)
    connector = HubSpotConnector(config, clock=SteppingClock(), transport=httpx.MockTransport(search))
    try:
        yield connector, search
    finally:
        connector.close()


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 50])
def test_every_record_exactly_once_in_stamp_order(rows: list[tuple[int, int]], page_size: int) -> None:
    cursor: str | None = None
    seen: list[tuple[int, int]] = []
    with scripted(rows, page_size) as (connector, _):
        for _ in range(200):
            page = connector.changes_since("companies", cursor)
            seen.extend((int(r.id), _ms(r.fields["properties"]["hs_lastmodifieddate"])) for r in page.records)
            cursor = page.cursor
            if not page.has_more:
                break
    assert sorted(seen) == sorted(rows)  # none missed, none repeated
    assert [ts for _, ts in seen] == sorted(ts for _, ts in seen)


def test_a_run_longer_than_a_page_is_walked_by_id(rows: list[tuple[int, int]]) -> None:
    with scripted(rows, page_size=3) as (connector, search):
        page = connector.changes_since("companies", None)
    # Seven records share the first stamp: the page is that run's three lowest ids, in id order.
    ids = [int(r.id) for r in page.records]
    assert ids == sorted(ids) and len(ids) == 3 and page.has_more
    assert search.calls == 2
