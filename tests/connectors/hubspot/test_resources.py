"""The HubSpot connector against the HubSpot twin: records, search, batches and change capture."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from concord.connectors.base import Conflict, Connector, DataRejected, NotFound
from concord.connectors.hubspot import ChangeCursor, HubSpotConfig, HubSpotConnector
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.mappings.registry import bundled_specs_dir, load_mapping_set
from tests.connectors.hubspot.support import START, TOKEN, SteppingClock, Twin, connector_for, running_twin


@pytest.fixture(scope="module")
def shared() -> Iterator[Twin]:
    with running_twin(SteppingClock(START)) as twin:
        yield twin


@pytest.fixture
def twin(shared: Twin) -> Twin:
    shared.reset()
    return shared


@pytest.fixture
def hubspot(twin: Twin) -> Iterator[HubSpotConnector]:
    connector = connector_for(twin.base_url, twin.clock)
    yield connector
    connector.close()


def _operations(connector: HubSpotConnector, operation: str) -> int:
    recorder = connector.client.recorder
    assert isinstance(recorder, InMemoryCallRecorder)
    return sum(1 for sample in recorder.samples if sample.operation == operation)


def _live(twin: Twin, obj: str = "companies") -> list[dict[str, str]]:
    return [o.values for o in twin.store.snapshot(obj)]


def test_record_is_the_nested_hubspot_object_the_mapping_reads(hubspot: HubSpotConnector) -> None:
    assert isinstance(hubspot, Connector)
    fields = {"properties": {"name": "Acme", "city": "Lyon", "lifecyclestage": "customer", "concord_id": "A-1"}}
    created = hubspot.create("companies", fields, idempotency_key="k-1")
    read = hubspot.read("companies", created.id)
    assert read is not None and read.id == created.id and read.object == "companies"
    assert set(read.fields) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    props = read.fields["properties"]
    assert (props["name"], props["city"], props["concord_id"], props["phone"]) == ("Acme", "Lyon", "A-1", None)
    assert "lifecyclestage" not in props  # outbound-only in the mapping, so never read back
    assert read.modified_at is not None and read.modified_at.timestamp() == START
    mapper = load_mapping_set(bundled_specs_dir()).get("hubspot", "account")
    assert mapper is not None
    values = mapper.to_canonical(read.fields).values
    assert (values["name"], values["billing_address.city"]) == ("Acme", "Lyon")
    # Write answers go through the same filter, so they map as well.
    assert mapper.to_canonical(created.fields).values["name"] == "Acme"


def test_create_is_idempotent_per_key_and_per_concord_id(hubspot: HubSpotConnector, twin: Twin) -> None:
    first = hubspot.create("companies", {"name": "Keyed"}, idempotency_key="key-1")
    again = hubspot.create("companies", {"name": "Keyed"}, idempotency_key="key-1")
    assert first.id == again.id and first.fields["properties"]["concord_id"] == "key-1"
    own = hubspot.create("companies", {"name": "Own", "concord_id": "C-9"}, idempotency_key="key-2")
    retried = hubspot.create("companies", {"name": "Own", "concord_id": "C-9"}, idempotency_key="key-3")
    assert own.id == retried.id and own.fields["properties"]["concord_id"] == "C-9"
    assert sorted(v["concord_id"] for v in _live(twin)) == ["C-9", "key-1"]


def test_update_patches_only_what_was_sent(hubspot: HubSpotConnector) -> None:
    created = hubspot.create("companies", {"name": "Before", "city": "Lyon"}, idempotency_key="u-1")
    updated = hubspot.update("companies", created.id, {"properties.name": "After"})
    assert updated.fields["properties"]["name"] == "After"
    read = hubspot.read("companies", created.id)
    assert read is not None and read.fields["properties"]["city"] == "Lyon"
    with pytest.raises(NotFound):
        hubspot.update("companies", "424242", {"name": "Ghost"})


def test_read_of_unknown_record_is_none(hubspot: HubSpotConnector) -> None:
    assert hubspot.read("companies", "31337") is None
    with pytest.raises(DataRejected) as caught:
        hubspot.read("tickets", "1")
    assert caught.value.code == "UNSUPPORTED_OBJECT"


def test_unique_value_taken_by_another_record_is_a_conflict(hubspot: HubSpotConnector) -> None:
    hubspot.create("companies", {"name": "One"}, idempotency_key="taken")
    other = hubspot.create("companies", {"name": "Two"}, idempotency_key="free")
    with pytest.raises(Conflict):
        hubspot.update("companies", other.id, {"concord_id": "taken"})


def test_search_by_criteria_pages_through_after(twin: Twin) -> None:
    hubspot = connector_for(twin.base_url, twin.clock, search_page_size=2)
    try:
        hubspot.upsert_many("companies", "concord_id",
                            {f"S-{n}": {"name": f"Search {n}", "city": "Oslo" if n % 2 else "Rome"} for n in range(7)})
        found = hubspot.search("companies", {"properties.city": "Oslo"}, limit=10)
        assert [r.fields["properties"]["concord_id"] for r in found] == ["S-1", "S-3", "S-5"]
        assert _operations(hubspot, "companies.search") == 2
        chosen = hubspot.search("companies", {"concord_id": ["S-0", "S-6"], "city": "Rome"})
        assert [r.fields["properties"]["name"] for r in chosen] == ["Search 0", "Search 6"]
        assert len(hubspot.search("companies", {}, limit=5)) == 5
        assert hubspot.search("companies", {"id": found[0].id})[0].id == found[0].id
    finally:
        hubspot.close()


def test_upsert_many_chunks_by_100_and_updates_on_repeat(hubspot: HubSpotConnector, twin: Twin) -> None:
    items = {f"B-{n:03d}": {"name": f"Bulk {n}"} for n in range(250)}
    outcome = hubspot.upsert_many("companies", "concord_id", items)
    assert not outcome.errors and set(outcome.records) == set(items)
    assert _operations(hubspot, "companies.batch.upsert") == 3
    again = hubspot.upsert_many("companies", "concord_id", {"B-007": {"name": "Renamed"}})
    assert again.records["B-007"].id == outcome.records["B-007"].id
    assert len(_live(twin)) == 250
    assert {v["concord_id"]: v["name"] for v in _live(twin)}["B-007"] == "Renamed"


def test_one_bad_record_is_isolated_and_the_rest_written(hubspot: HubSpotConnector, twin: Twin) -> None:
    items = {f"M-{n}": {"name": f"Mixed {n}"} for n in range(10)}
    items["M-6"] = {"name": "Mixed 6", "numberofemployees": "many"}
    outcome = hubspot.upsert_many("companies", "concord_id", items)
    assert set(outcome.errors) == {"M-6"} and len(outcome.records) == 9
    error = outcome.errors["M-6"]
    assert isinstance(error, DataRejected) and error.field == "numberofemployees"
    assert error.code == "INVALID_FLOAT"
    assert sorted(v["concord_id"] for v in _live(twin)) == sorted(k for k in items if k != "M-6")


def test_update_many_reports_unknown_ids_from_the_207(hubspot: HubSpotConnector) -> None:
    made = hubspot.upsert_many("companies", "concord_id", {"X-1": {"name": "x1"}, "X-2": {"name": "x2"}})
    ids = [made.records["X-1"].id, made.records["X-2"].id]
    outcome = hubspot.update_many("companies", {ids[0]: {"city": "Bern"}, "999999": {"city": "Nowhere"},
                                                ids[1]: {"city": "Graz"}})
    assert {k: r.fields["properties"]["city"] for k, r in outcome.records.items()} == {ids[0]: "Bern", ids[1]: "Graz"}
    assert isinstance(outcome.errors["999999"], NotFound)


def test_create_many_refuses_two_inputs_for_one_concord_id(hubspot: HubSpotConnector, twin: Twin) -> None:
    outcome = hubspot.create_many("companies", {"k1": {"name": "a", "concord_id": "D-1"},
                                                "k2": {"name": "b", "concord_id": "D-1"}, "k3": {"name": "c"}})
    assert set(outcome.records) == {"k1", "k3"} and outcome.errors["k2"].__class__ is DataRejected
    assert sorted(v["concord_id"] for v in _live(twin)) == ["D-1", "k3"]


def test_contacts_upsert_by_email_matches_hubspot_lowercasing(hubspot: HubSpotConnector) -> None:
    outcome = hubspot.upsert_many("contacts", "email", {"Ada@Example.COM": {"firstname": "Ada"}})
    assert not outcome.errors
    assert outcome.records["Ada@Example.COM"].fields["properties"]["email"] == "ada@example.com"


def _drain(hubspot: HubSpotConnector, obj: str, cursor: str | None) -> tuple[list[str], str | None]:
    seen: list[str] = []
    for _ in range(100):
        page = hubspot.changes_since(obj, cursor)
        seen.extend(r.id for r in page.records)
        cursor = page.cursor
        if not page.has_more:
            return seen, cursor
    raise AssertionError("change capture did not finish")


def test_changes_since_never_splits_or_skips_a_run_of_equal_stamps(twin: Twin) -> None:
    assert twin.clock is not None
    hubspot = connector_for(twin.base_url, twin.clock, search_page_size=3)
    try:
        # 7 records in one millisecond (longer than a page), then 2 + 1 in later milliseconds.
        first = hubspot.upsert_many("companies", "concord_id", {f"E-{n}": {"name": "e"} for n in range(7)})
        twin.clock.advance(1)
        later = hubspot.upsert_many("companies", "concord_id", {f"F-{n}": {"name": "f"} for n in range(2)})
        twin.clock.advance(1)
        last = hubspot.create("companies", {"name": "g"}, idempotency_key="G-0")
        seen, cursor = _drain(hubspot, "companies", None)
        expected = [first.records[f"E-{n}"].id for n in range(7)] + [r.id for r in later.records.values()]
        assert seen == [*expected, last.id]
        assert _drain(hubspot, "companies", cursor)[0] == []
        twin.clock.advance(1)
        hubspot.update("companies", first.records["E-2"].id, {"name": "edited"})
        assert _drain(hubspot, "companies", cursor)[0] == [first.records["E-2"].id]
    finally:
        hubspot.close()


def test_contacts_change_capture_uses_lastmodifieddate(hubspot: HubSpotConnector, twin: Twin) -> None:
    assert twin.clock is not None
    older = hubspot.create("contacts", {"email": "old@example.com"}, idempotency_key="c-old")
    page = hubspot.changes_since("contacts", None)
    assert [r.id for r in page.records] == [older.id]
    assert page.records[0].fields["properties"]["lastmodifieddate"]
    twin.clock.advance(5)
    newer = hubspot.create("contacts", {"email": "new@example.com"}, idempotency_key="c-new")
    assert [r.id for r in hubspot.changes_since("contacts", page.cursor).records] == [newer.id]


def test_change_cursor_is_checked(hubspot: HubSpotConnector) -> None:
    assert ChangeCursor.decode(ChangeCursor(5, 9).encode()) == ChangeCursor(5, 9)
    with pytest.raises(DataRejected) as caught:
        hubspot.changes_since("companies", "yesterday")
    assert caught.value.field == "cursor"


def test_capabilities_are_declared(hubspot: HubSpotConnector) -> None:
    caps = hubspot.capabilities
    assert caps.objects == ("companies", "contacts", "deals") and caps.bulk_batch_size == 100
    assert caps.upsert_by_external_id and caps.idempotency_header is None and not caps.webhooks
    assert caps.cursor_field == "hs_lastmodifieddate"
    assert caps.rate_limit is not None
    assert (caps.rate_limit.requests, caps.rate_limit.per_seconds, caps.rate_limit.daily_quota) == (190, 10, 625_000)


def test_207_upsert_errors_are_matched_to_their_inputs() -> None:
    """HubSpot's multi-status answer (not produced by the twin): failed inputs are named in `context.ids`."""
    answer = {
        "status": "COMPLETE",
        "results": [{"id": "11", "properties": {"concord_id": "P-1", "name": "ok"}, "new": True}],
        "numErrors": 2,
        "errors": [
            {"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid",
             "context": {"ids": ["P-2"]},
             "errors": [{"code": "INVALID_OPTION", "context": {"propertyName": ["industry"]}}]},
            {"status": "error", "category": "CONFLICT", "message": "already exists", "context": {"ids": ["P-3"]}},
        ],
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(207, json=answer))
    config = HubSpotConfig(base_url="https://api.hubapi.test", access_token=SecretStr(TOKEN))
    hubspot = HubSpotConnector(config, clock=SteppingClock(), transport=transport)
    try:
        outcome = hubspot.upsert_many("companies", "concord_id", {"P-1": {}, "P-2": {}, "P-3": {}, "P-4": {}})
    finally:
        hubspot.close()
    assert outcome.records["P-1"].id == "11"
    rejected = outcome.errors["P-2"]
    assert isinstance(rejected, DataRejected) and (rejected.field, rejected.code) == ("industry", "INVALID_OPTION")
    assert isinstance(outcome.errors["P-3"], Conflict)
    assert "no result" in outcome.errors["P-4"].message  # neither a result nor an error: never assumed written
