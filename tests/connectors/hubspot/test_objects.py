"""The pure half of the HubSpot connector: property spellings, request bodies and records."""

from __future__ import annotations

from datetime import UTC, datetime

from concord.connectors.hubspot.config import OBJECTS
from concord.connectors.hubspot.objects import (
    ChangeCursor,
    changes_body,
    property_key,
    search_body,
    to_record,
    upsert_inputs,
)


def test_search_body_spells_each_kind_of_criterion() -> None:
    body = search_body({"properties.domain": "acme.test", "id": ["1", "2"], "phone": None, "vip": True},
                       ("name",), 50)
    assert body["filterGroups"] == [{"filters": [
        {"propertyName": "domain", "operator": "EQ", "value": "acme.test"},
        {"propertyName": "hs_object_id", "operator": "IN", "values": ["1", "2"]},
        {"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"},
        {"propertyName": "vip", "operator": "EQ", "value": "true"},
    ]}]
    assert search_body({}, ("name",), 50)["filterGroups"] == []


def test_changes_body_walks_a_run_of_one_stamp_by_id() -> None:
    spec = OBJECTS["contacts"]
    by_stamp = changes_body(spec, ChangeCursor(5, 9), False, ("email",), 100)
    by_id = changes_body(spec, ChangeCursor(5, 9), True, ("email",), 100)
    assert len(by_stamp["filterGroups"]) == 2 and by_stamp["sorts"][0]["propertyName"] == "lastmodifieddate"
    assert len(by_id["filterGroups"]) == 1 and by_id["sorts"][0]["propertyName"] == "hs_object_id"


def test_upsert_inputs_key_by_the_unique_property() -> None:
    inputs = upsert_inputs({"acc-1": {"properties": {"name": "Acme", "concord_id": "acc-1"}}}, "concord_id")
    assert inputs[0].payload == {"id": "acc-1", "idProperty": "concord_id", "properties": {"name": "Acme"}}
    assert property_key("concord_id")({"properties": {"concord_id": "acc-1"}}) == "acc-1"
    assert property_key("concord_id")({"properties": {}}) is None


def test_record_keeps_read_properties_and_takes_its_time_from_the_modified_stamp() -> None:
    raw = {"id": "7", "properties": {"name": "Acme", "secret": "x", "hs_lastmodifieddate": "2026-01-02T03:04:05.678Z"},
           "updatedAt": "2020-01-01T00:00:00Z", "archived": True}
    record = to_record("companies", raw, ("name", "hs_lastmodifieddate"))
    assert record.fields["properties"] == {"name": "Acme", "hs_lastmodifieddate": "2026-01-02T03:04:05.678Z"}
    assert record.modified_at == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC) and record.deleted
