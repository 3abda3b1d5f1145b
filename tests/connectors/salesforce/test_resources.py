"""SalesforceConnector against the twin: CRUD, idempotent create, change capture paging, bulk upsert."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from concord.connectors.base import Capabilities, DataRejected, NotFound, RateLimit, RetryableError
from concord.connectors.salesforce import ChangeCursor, DuplicateValue, SalesforceConnector
from concord.sandbox.salesforce import SalesforceTwinSettings
from concord.sandbox.salesforce.testing import FakeClock, RunningTwin, running_twin
from tests.connectors.salesforce.support import connector_for, mock_connector, operations


@pytest.fixture
def twin() -> Iterator[RunningTwin]:
    with running_twin() as running:
        yield running


@pytest.fixture
def frozen_twin() -> Iterator[tuple[RunningTwin, FakeClock]]:
    """Time stands still: every write shares one SystemModstamp, the worst case for a change cursor."""
    clock = FakeClock()
    with running_twin(SalesforceTwinSettings(clock=clock, query_batch_size=3)) as running:
        yield running, clock


@pytest.fixture
def connector(twin: RunningTwin) -> Iterator[SalesforceConnector]:
    conn = connector_for(twin.base_url)
    yield conn
    conn.close()


def test_capabilities_are_declared_as_data(connector: SalesforceConnector) -> None:
    assert connector.capabilities == Capabilities(
        objects=("Account", "Contact", "Opportunity"), bulk_batch_size=200, upsert_by_external_id=True,
        idempotency_header=None, webhooks=False, cursor_field="SystemModstamp",
        rate_limit=RateLimit(requests=15000, per_seconds=86400.0, daily_quota=15000), change_time_resolution_s=0.001,
    )


def test_contact_and_opportunity_round_trip(connector: SalesforceConnector) -> None:
    account = connector.create("Account", {"Name": "Parent GmbH"}, idempotency_key="acc-1")
    contact = connector.create("Contact", {"LastName": "Muster", "FirstName": "Max", "AccountId": account.id,
                                           "Email": "max@parent.example"}, idempotency_key="con-1")
    assert contact.fields["Name"] == "Max Muster" and contact.fields["AccountId"] == account.id
    deal = connector.create("Opportunity", {"Name": "Renewal", "StageName": "Prospecting", "AccountId": account.id,
                                            "CloseDate": date(2024, 6, 30)}, idempotency_key="opp-1")
    updated = connector.update("Opportunity", deal.id, {"StageName": "Closed Won", "Amount": 1200.5})
    assert (updated.fields["StageName"], updated.fields["Amount"]) == ("Closed Won", 1200.5)
    assert updated.fields["CloseDate"] == "2024-06-30" and updated.modified_at is not None
    with pytest.raises(DataRejected) as caught:
        connector.create("Contact", {"LastName": "X", "Email": "not-an-email"}, idempotency_key="con-2")
    assert (caught.value.field, caught.value.code) == ("Email", "INVALID_EMAIL_ADDRESS")


def test_idempotency_key_lives_in_the_external_id_field(connector: SalesforceConnector, twin: RunningTwin) -> None:
    first = connector.create("Account", {"Name": "Once"}, idempotency_key="key-1")
    again = connector.create("Account", {"Name": "Once"}, idempotency_key="key-1")
    assert first.id == again.id and first.fields["Concord_Id__c"] == "key-1"
    # The caller's own Concord id is the key when it brings one.
    own = connector.create("Account", {"Name": "Own", "Concord_Id__c": "C-7"}, idempotency_key="ignored")
    assert own.fields["Concord_Id__c"] == "C-7"
    assert connector.create("Account", {"Name": "Own", "Concord_Id__c": "C-7"}, idempotency_key="x").id == own.id
    assert Counter(row["Concord_Id__c"] for row in twin.store.snapshot("Account")) == {"key-1": 1, "C-7": 1}


def test_duplicate_on_another_unique_rule_is_not_swallowed() -> None:
    refusal = [{"message": "duplicate value found: ERP_Number__c duplicates value on record with id: "
                "0015g0000000009AAA", "errorCode": "DUPLICATE_VALUE", "fields": []}]
    connector = mock_connector(lambda _: httpx.Response(400, json=refusal))
    with pytest.raises(DuplicateValue) as caught:
        connector.create("Account", {"Name": "Clash"}, idempotency_key="k")
    assert caught.value.field == "ERP_Number__c"
    assert operations(connector, "sobject.read_by_external_id") == 0


def test_upsert_by_external_id(connector: SalesforceConnector) -> None:
    first = connector.upsert("Account", "Concord_Id__c", "ext/1 a", {"Name": "First", "Concord_Id__c": "ext/1 a"})
    second = connector.upsert("Account", "Concord_Id__c", "ext/1 a", {"Phone": "+49 30 1"})
    assert first.id == second.id
    assert (second.fields["Name"], second.fields["Phone"]) == ("First", "+49 30 1")
    assert connector.by_external_id("Account", "Concord_Id__c", "ext/1 a") == second


def test_read_update_of_unknown_ids(connector: SalesforceConnector) -> None:
    created = connector.create("Account", {"Name": "Known"}, idempotency_key="known")
    assert connector.read("Account", created.id[:-3] + "zzz") is None
    assert connector.read("Account", "0015g00000000ZZAAA") is None
    with pytest.raises(NotFound):
        connector.update("Account", "0015g00000000ZZAAA", {"Name": "x"})
    with pytest.raises(DataRejected):
        connector.read("Lead", created.id)


def test_search_by_criteria_and_limit(connector: SalesforceConnector) -> None:
    ids = [connector.create("Account", {"Name": f"S{n}", "Industry": "Banking" if n % 2 else "Energy"},
                            idempotency_key=f"s-{n}").id for n in range(6)]
    banking = connector.search("Account", {"Industry": "Banking"})
    assert sorted(r.id for r in banking) == sorted(ids[1::2])
    assert len(connector.search("Account", {}, limit=4)) == 4
    both = connector.search("Account", {"Concord_Id__c": ["s-0", "s-5"], "Industry": "Energy"})
    assert [r.fields["Name"] for r in both] == ["S0"]


def _drain(connector: SalesforceConnector, cursor: str | None) -> tuple[list[str], str | None, int]:
    seen: list[str] = []
    pages = 0
    while True:
        page = connector.changes_since("Account", cursor)
        pages += 1
        seen.extend(r.id for r in page.records)
        cursor = page.cursor or cursor
        if not page.has_more:
            return seen, cursor, pages


def test_changes_since_ties_at_one_timestamp(frozen_twin: tuple[RunningTwin, FakeClock]) -> None:
    twin, clock = frozen_twin
    connector = connector_for(twin.base_url, changes_page_size=4)
    created = [connector.create("Account", {"Name": f"T{n}"}, idempotency_key=f"t-{n}").id for n in range(10)]
    assert len({row["SystemModstamp"] for row in twin.store.snapshot("Account")}) == 1
    seen, cursor, pages = _drain(connector, None)
    assert sorted(seen) == sorted(created) and len(seen) == 10 and pages == 3
    # Pages of 4 over a twin that pages its query results by 3: nextRecordsUrl was followed.
    assert operations(connector, "queryAll.more") == 2
    assert _drain(connector, cursor)[0] == []

    clock.advance(1.5)
    connector.update("Account", created[3], {"Phone": "1"})
    session = twin.session_id()
    gone = httpx.delete(f"{twin.base_url}/services/data/v60.0/sobjects/Account/{created[7]}",
                        headers={"Authorization": f"Bearer {session}"})
    assert gone.status_code == 204
    page = connector.changes_since("Account", cursor)
    assert [(r.id, r.deleted) for r in page.records] == [(created[3], False), (created[7], True)]
    assert page.cursor is not None and ChangeCursor.decode(page.cursor).last_id == created[7]
    connector.close()


def test_a_garbled_cursor_is_rejected(connector: SalesforceConnector) -> None:
    for junk in ("yesterday|001", "2024-01-01T00:00:00.000Z|' OR Id != '"):
        with pytest.raises(DataRejected):
            connector.changes_since("Account", junk)


def test_upsert_many_in_collections_of_200(connector: SalesforceConnector, twin: RunningTwin) -> None:
    records = [{"Name": f"Bulk {n}", "Concord_Id__c": f"b-{n}"} for n in range(450)]
    results = connector.upsert_many("Account", "Concord_Id__c", records)
    assert [r.external_id for r in results] == [f"b-{n}" for n in range(450)]
    assert all(r.ok and r.created is True and r.id for r in results)
    assert operations(connector, "collections.upsert") == 3
    again = connector.upsert_many("Account", "Concord_Id__c", [{**r, "Phone": "2"} for r in records[:5]])
    assert [r.created for r in again] == [False] * 5 and [r.id for r in again] == [r.id for r in results[:5]]
    assert len(twin.store.snapshot("Account")) == 450


def test_upsert_many_rejects_bad_records_one_by_one(connector: SalesforceConnector, twin: RunningTwin) -> None:
    records = [{"Name": f"Good {n}", "Concord_Id__c": f"g-{n}"} for n in range(10)]
    records[2] = {"Concord_Id__c": "g-2"}  # no Name: REQUIRED_FIELD_MISSING on that record only
    records[5] = {"Name": "x" * 256, "Concord_Id__c": "g-5"}  # STRING_TOO_LONG
    records[7] = {"Name": "Bad field", "Concord_Id__c": "g-7", "Nickname": "n"}  # refuses the whole call
    records[8] = {"Name": "No key"}
    results = connector.upsert_many("Account", "Concord_Id__c", records)
    failures = {n: (r.error.field, r.error.code) for n, r in enumerate(results) if isinstance(r.error, DataRejected)}
    assert failures == {2: ("Name", "REQUIRED_FIELD_MISSING"), 5: ("Name", "STRING_TOO_LONG"),
                        7: ("Nickname", "INVALID_FIELD"), 8: ("Concord_Id__c", "REQUIRED_FIELD_MISSING")}
    written = sorted(str(row["Concord_Id__c"]) for row in twin.store.snapshot("Account"))
    assert written == sorted(f"g-{n}" for n in (0, 1, 3, 4, 6, 9))


def test_upsert_many_resends_only_records_that_failed_transiently() -> None:
    bodies: list[list[str]] = []

    def collections(request: httpx.Request) -> httpx.Response:
        sent = [record["Concord_Id__c"] for record in json.loads(request.content)["records"]]
        bodies.append(sent)
        results = []
        for n, key in enumerate(sent):
            if key == "r-1" and len(bodies) < 3:
                lock = {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to lock row", "fields": []}
                results.append({"success": False, "errors": [lock]})
            else:
                results.append({"id": f"0015g00000000{n:02d}AAA", "success": True, "errors": [], "created": True})
        return httpx.Response(200, json=results)

    connector = mock_connector(collections)
    results = connector.upsert_many("Account", "Concord_Id__c",
                                    [{"Name": "A", "Concord_Id__c": f"r-{n}"} for n in range(3)])
    assert bodies == [["r-0", "r-1", "r-2"], ["r-1"], ["r-1"]]
    assert all(r.ok for r in results)


def test_upsert_many_reports_a_row_that_stays_locked() -> None:
    locked = [{"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}]}]
    connector = mock_connector(lambda _: httpx.Response(200, json=locked), retry={"max_attempts": 3,
                                                                               "base_delay_s": 0.01})
    [result] = connector.upsert_many("Account", "Concord_Id__c", [{"Name": "A", "Concord_Id__c": "l-1"}])
    assert isinstance(result.error, RetryableError)
    assert operations(connector, "collections.upsert") == 3
