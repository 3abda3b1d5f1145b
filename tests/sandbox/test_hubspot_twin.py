"""The HubSpot twin, driven by HubSpot's own Python client and by raw httpx for statuses and headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm.companies import (  # type: ignore[import-untyped]
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException, NotFoundException  # type: ignore[import-untyped]
from hubspot.crm.properties import OptionInput, PropertyCreate  # type: ignore[import-untyped]
from hubspot.crm.properties.exceptions import (  # type: ignore[import-untyped]
    ApiException as PropertiesApiException,
)

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.hubspot import HubSpotTwinSettings, create_app
from concord.sandbox.hubspot.store import TwinStore

TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"
START_WALL = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@dataclass
class FakeClock:
    mono: float = 100.0
    wall: float = START_WALL

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@dataclass
class Twin:
    handle: ServerHandle
    clock: FakeClock
    store: TwinStore


def _start(clock: FakeClock, **overrides: int) -> tuple[ServerHandle, TwinStore]:
    settings = HubSpotTwinSettings(access_token=TOKEN, clock=clock.monotonic, wall_clock=clock.now, **overrides)
    app = create_app(settings)
    return serve_in_thread(app), app.state.store


@pytest.fixture(scope="module")
def shared() -> Iterator[Twin]:
    clock = FakeClock()
    handle, store = _start(clock)
    yield Twin(handle, clock, store)
    handle.stop()


@pytest.fixture
def twin(shared: Twin) -> Twin:
    shared.clock.mono, shared.clock.wall = 100.0, START_WALL
    assert httpx.post(f"{shared.handle.base_url}/__twin__/reset").status_code == 200
    return shared


@pytest.fixture
def http(twin: Twin) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=twin.handle.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture
def sdk(twin: Twin) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=twin.handle.base_url)


def _body(exc: ApiException) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(exc.body)
    return loaded


def _create(http: httpx.Client, kind: str, **props: object) -> dict[str, object]:
    response = http.post(f"/crm/v3/objects/{kind}", json={"properties": props})
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


# -- single objects ---------------------------------------------------------------------------------


def test_company_lifecycle_through_the_official_client(sdk: HubSpot) -> None:
    api = sdk.crm.companies.basic_api
    created = api.create(SimplePublicObjectInputForCreate(properties={"name": "Acme", "concord_id": "C-1"}))
    assert created.properties["hs_object_id"] == created.id
    fetched = api.get_by_id(created.id, properties=["name", "phone"])
    assert fetched.properties["name"] == "Acme" and fetched.properties["phone"] is None
    by_key = api.get_by_id("C-1", id_property="concord_id")
    assert by_key.id == created.id
    updated = api.update(created.id, SimplePublicObjectInput(properties={"city": "Lyon", "numberofemployees": 40}))
    assert updated.properties["city"] == "Lyon" and updated.properties["numberofemployees"] == "40"
    api.archive(created.id)
    with pytest.raises(NotFoundException):
        api.get_by_id(created.id)
    assert api.get_by_id(created.id, archived=True).archived is True


def test_object_json_shape_and_system_properties(http: httpx.Client, twin: Twin) -> None:
    created = _create(http, "contacts", email="Jane@Example.COM", firstname="Jane")
    assert set(created) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    props = created["properties"]
    assert isinstance(props, dict)
    assert props["email"] == "jane@example.com"
    assert props["createdate"] == created["createdAt"] == "2023-11-14T22:13:20.000Z"
    assert props["lastmodifieddate"] == created["updatedAt"] and "hs_lastmodifieddate" not in props
    twin.clock.advance(5)
    read = http.get(f"/crm/v3/objects/contacts/{created['id']}").json()
    assert set(read["properties"]) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"
    }
    assert read["properties"]["lastname"] is None
    patched = http.patch(f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"lastname": "Doe"}})
    assert patched.status_code == 200 and patched.json()["updatedAt"] == "2023-11-14T22:13:25.000Z"
    joined = http.get(f"/crm/v3/objects/contacts/{created['id']}", params={"properties": "lastname,jobtitle"})
    assert set(joined.json()["properties"]) == {
        "createdate", "hs_object_id", "jobtitle", "lastmodifieddate", "lastname"
    }


def test_missing_record_and_unknown_object_type(http: httpx.Client) -> None:
    missing = http.get("/crm/v3/objects/companies/424242")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert http.patch("/crm/v3/objects/deals/9", json={"properties": {"amount": 1}}).status_code == 404
    assert http.delete("/crm/v3/objects/deals/9").status_code == 204
    unknown = http.get("/crm/v3/objects/widgets")
    assert unknown.status_code == 400 and unknown.json()["category"] == "VALIDATION_ERROR"


def test_list_pages_with_after_cursor(sdk: HubSpot, http: httpx.Client) -> None:
    inputs = [{"properties": {"name": f"Co {i:02d}"}} for i in range(25)]
    sdk.crm.companies.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    http.delete("/crm/v3/objects/companies/3")
    seen: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    while True:
        page = sdk.crm.companies.basic_api.get_page(limit=10, after=after, properties=["name"])
        seen += [o.properties["name"] for o in page.results]
        sizes.append(len(page.results))
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sizes == [10, 10, 4]
    assert seen == [f"Co {i:02d}" for i in range(25) if i != 2]
    assert http.get("/crm/v3/objects/companies", params={"limit": 101}).status_code == 400
    archived = http.get("/crm/v3/objects/companies", params={"archived": "true"}).json()["results"]
    assert [o["id"] for o in archived] == ["3"]


# -- validation and conflicts -----------------------------------------------------------------------


def test_unknown_property_is_a_validation_error_with_hubspot_context(sdk: HubSpot, twin: Twin) -> None:
    with pytest.raises(ApiException) as caught:
        sdk.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"name": "Acme", "favourite_colour": "teal"})
        )
    assert caught.value.status == 400
    body = _body(caught.value)
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    message = str(body["message"])
    assert message.startswith("Property values were not valid: ")
    verdicts = json.loads(message.removeprefix("Property values were not valid: "))
    assert verdicts[0]["error"] == "PROPERTY_DOESNT_EXIST" and verdicts[0]["name"] == "favourite_colour"
    assert body["errors"] == [{
        "message": 'Property "favourite_colour" does not exist',
        "code": "PROPERTY_DOESNT_EXIST",
        "context": {"propertyName": ["favourite_colour"]},
    }]
    assert twin.store.counts()["companies"]["live"] == 0


@pytest.mark.parametrize(
    ("kind", "props", "code"),
    [
        ("companies", {"numberofemployees": "many"}, "INVALID_FLOAT"),
        ("companies", {"lifecyclestage": "prospect"}, "INVALID_OPTION"),
        ("contacts", {"email": "not-an-address"}, "INVALID_EMAIL"),
        ("deals", {"closedate": "next tuesday"}, "INVALID_DATETIME"),
        ("deals", {"dealstage": "won"}, "INVALID_OPTION"),
        ("companies", {"hs_object_id": "7"}, "READ_ONLY_VALUE"),
    ],
)
def test_malformed_values_are_refused(http: httpx.Client, kind: str, props: dict[str, str], code: str) -> None:
    response = http.post(f"/crm/v3/objects/{kind}", json={"properties": props})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_malformed_json_body(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    response = http.post("/crm/v3/objects/companies", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid input JSON on line 1")


def test_unique_values_conflict(sdk: HubSpot, http: httpx.Client) -> None:
    first = _create(http, "contacts", email="ann@example.com")
    dup = http.post("/crm/v3/objects/contacts", json={"properties": {"email": "ANN@example.com"}})
    assert dup.status_code == 409
    assert dup.json()["category"] == "CONFLICT"
    assert dup.json()["message"] == f"Contact already exists. Existing ID: {first['id']}"
    api = sdk.crm.companies.basic_api
    api.create(SimplePublicObjectInputForCreate(properties={"name": "A", "concord_id": "C-9"}))
    other = api.create(SimplePublicObjectInputForCreate(properties={"name": "B"}))
    with pytest.raises(ApiException) as caught:
        api.update(other.id, SimplePublicObjectInput(properties={"concord_id": "C-9"}))
    assert caught.value.status == 409


# -- batch ------------------------------------------------------------------------------------------


def test_batch_create_read_and_partial_read(sdk: HubSpot) -> None:
    batch = sdk.crm.companies.batch_api
    created = batch.create(BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": {"name": n, "concord_id": f"C-{n}"}} for n in ("a", "b", "c")]
    ))
    assert created.status == "COMPLETE" and len(created.results) == 3
    read = batch.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "C-a"}, {"id": "C-zz"}], properties=["name"], properties_with_history=[],
        id_property="concord_id",
    ))
    assert [o.properties["name"] for o in read.results] == ["a"]
    assert read.num_errors == 1 and read.errors[0].category == "OBJECT_NOT_FOUND"
    assert read.errors[0].context == {"ids": ["C-zz"]}


def test_batch_limits_and_all_or_nothing(sdk: HubSpot, http: httpx.Client, twin: Twin) -> None:
    batch = sdk.crm.companies.batch_api
    too_many = [{"properties": {"name": f"n{i}"}} for i in range(101)]
    with pytest.raises(ApiException) as caught:
        batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=too_many))
    assert caught.value.status == 400 and _body(caught.value)["category"] == "VALIDATION_ERROR"
    _create(http, "companies", name="Existing", concord_id="C-1")
    clash = [{"properties": {"name": "new", "concord_id": "C-2"}}, {"properties": {"concord_id": "C-1"}}]
    with pytest.raises(ApiException) as conflict:
        batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=clash))
    assert conflict.value.status == 409
    twice = [{"properties": {"concord_id": "C-7"}}, {"properties": {"concord_id": "C-7"}}]
    assert http.post("/crm/v3/objects/companies/batch/create", json={"inputs": twice}).status_code == 400
    bad = [{"properties": {"name": "ok"}}, {"properties": {"nope": "x"}}]
    assert http.post("/crm/v3/objects/companies/batch/create", json={"inputs": bad}).status_code == 400
    assert twin.store.counts()["companies"]["live"] == 1


def test_batch_update_reports_missing_ids_with_207(http: httpx.Client) -> None:
    kept = _create(http, "deals", dealname="Renewal", amount=100)
    inputs = [{"id": kept["id"], "properties": {"amount": 250}}, {"id": "999", "properties": {"amount": 1}}]
    response = http.post("/crm/v3/objects/deals/batch/update", json={"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert body["results"][0]["properties"]["amount"] == "250"
    assert body["numErrors"] == 1 and body["errors"][0]["context"] == {"ids": ["999"]}
    assert {"startedAt", "completedAt"} <= set(body)
    dup = [{"id": kept["id"], "properties": {}}, {"id": kept["id"], "properties": {}}]
    assert http.post("/crm/v3/objects/deals/batch/update", json={"inputs": dup}).status_code == 400


def test_batch_upsert_by_unique_property(sdk: HubSpot, http: httpx.Client, twin: Twin) -> None:
    batch = sdk.crm.companies.batch_api
    inputs = [{"idProperty": "concord_id", "id": "C-1", "properties": {"name": "One"}},
              {"idProperty": "concord_id", "id": "C-2", "properties": {"name": "Two"}}]
    first = batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    assert [r.new for r in first.results] == [True, True]
    inputs[0]["properties"] = {"name": "One, renamed"}
    second = batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    assert [r.new for r in second.results] == [False, False]
    assert second.results[0].properties["name"] == "One, renamed"
    assert twin.store.counts()["companies"]["live"] == 2
    by_name = [{"idProperty": "name", "id": "One", "properties": {}}]
    assert http.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": by_name}).status_code == 400
    by_email = [{"idProperty": "email", "id": "Bo@Example.com", "properties": {"firstname": "Bo"}}]
    upserted = http.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": by_email}).json()
    assert upserted["results"][0]["properties"]["email"] == "bo@example.com"


# -- search -----------------------------------------------------------------------------------------


def _seed_companies(http: httpx.Client) -> None:
    _create(http, "companies", name="Alpha", numberofemployees=5, city="Paris", domain="alpha.com",
            lifecyclestage="lead")
    _create(http, "companies", name="Beta", numberofemployees=50, city="Berlin", domain="beta.io",
            lifecyclestage="customer")
    _create(http, "companies", name="Gamma", numberofemployees=500, domain="gamma.com", lifecyclestage="customer")
    _create(http, "companies", name="Delta", city="Paris", description="Wholesale ball bearings")


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        ({"propertyName": "city", "operator": "EQ", "value": "paris"}, {"Alpha", "Delta"}),
        ({"propertyName": "city", "operator": "NEQ", "value": "Paris"}, {"Beta", "Gamma"}),
        ({"propertyName": "numberofemployees", "operator": "GT", "value": "50"}, {"Gamma"}),
        ({"propertyName": "numberofemployees", "operator": "GTE", "value": "50"}, {"Beta", "Gamma"}),
        ({"propertyName": "numberofemployees", "operator": "LT", "value": "100"}, {"Alpha", "Beta"}),
        ({"propertyName": "numberofemployees", "operator": "LTE", "value": "5"}, {"Alpha"}),
        ({"propertyName": "lifecyclestage", "operator": "IN", "values": ["customer"]}, {"Beta", "Gamma"}),
        ({"propertyName": "numberofemployees", "operator": "HAS_PROPERTY"}, {"Alpha", "Beta", "Gamma"}),
        ({"propertyName": "city", "operator": "NOT_HAS_PROPERTY"}, {"Gamma"}),
        ({"propertyName": "description", "operator": "CONTAINS_TOKEN", "value": "bearings"}, {"Delta"}),
        ({"propertyName": "domain", "operator": "CONTAINS_TOKEN", "value": "*.com"}, {"Alpha", "Gamma"}),
        ({"propertyName": "numberofemployees", "operator": "BETWEEN", "value": "10", "highValue": "500"},
         {"Beta", "Gamma"}),
    ],
)
def test_search_filter_operators(http: httpx.Client, search_filter: dict[str, object], expected: set[str]) -> None:
    _seed_companies(http)
    response = http.post("/crm/v3/objects/companies/search",
                         json={"filterGroups": [{"filters": [search_filter]}], "properties": ["name"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {r["properties"]["name"] for r in body["results"]} == expected
    assert body["total"] == len(expected)


def test_search_or_groups_sort_and_paging_via_client(sdk: HubSpot, http: httpx.Client) -> None:
    _seed_companies(http)
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "city", "operator": "EQ", "value": "Berlin"}]},
                       {"filters": [{"propertyName": "numberofemployees", "operator": "LTE", "value": "5"}]},
                       {"filters": [{"propertyName": "name", "operator": "EQ", "value": "Gamma"}]}],
        sorts=[{"propertyName": "numberofemployees", "direction": "DESCENDING"}],
        properties=["name", "numberofemployees"], limit=2,
    )
    first = sdk.crm.companies.search_api.do_search(request)
    assert first.total == 3
    assert [r.properties["name"] for r in first.results] == ["Gamma", "Beta"]
    request.after = first.paging.next.after
    second = sdk.crm.companies.search_api.do_search(request)
    assert [r.properties["name"] for r in second.results] == ["Alpha"] and second.paging is None


@pytest.mark.parametrize(
    "payload",
    [
        {"limit": 201},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}]}] * 6},
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "LIKE", "value": "x"}]}]},
        {"after": "10000"},
    ],
)
def test_search_rejects_out_of_bounds_requests(http: httpx.Client, payload: dict[str, object]) -> None:
    response = http.post("/crm/v3/objects/companies/search", json=payload)
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(("kind", "stamp", "key"), [("companies", "hs_lastmodifieddate", "name"),
                                                    ("contacts", "lastmodifieddate", "firstname")])
def test_incremental_sync_on_last_modified(http: httpx.Client, twin: Twin, kind: str, stamp: str, key: str) -> None:
    old = _create(http, kind, **{key: "old"})
    twin.clock.advance(60)
    cutoff_ms = int(twin.clock.wall * 1000)
    _create(http, kind, **{key: "new"})
    twin.clock.advance(60)
    http.patch(f"/crm/v3/objects/{kind}/{old['id']}", json={"properties": {key: "touched"}})
    for value in (str(cutoff_ms), "2023-11-14T22:14:20Z"):
        response = http.post(f"/crm/v3/objects/{kind}/search", json={
            "filterGroups": [{"filters": [{"propertyName": stamp, "operator": "GTE", "value": value}]}],
            "sorts": [{"propertyName": stamp, "direction": "ASCENDING"}], "properties": [key],
        })
        assert [r["properties"][key] for r in response.json()["results"]] == ["new", "touched"]
        assert response.json()["results"][1]["properties"][stamp] == "2023-11-14T22:15:20.000Z"


# -- properties -------------------------------------------------------------------------------------


def test_property_model_and_custom_properties(sdk: HubSpot, http: httpx.Client) -> None:
    core = sdk.crm.properties.core_api
    names = {p.name: p for p in core.get_all("companies").results}
    assert {"name", "domain", "annualrevenue", "concord_id", "erp_customer_number", "credit_status"} <= set(names)
    assert names["concord_id"].has_unique_value is True and names["name"].has_unique_value is False
    tier = PropertyCreate(name="tier", label="Tier", type="enumeration", field_type="select",
                          group_name="concord_sync", options=[OptionInput(label="Gold", value="gold",
                                                                          display_order=0, hidden=False)])
    assert core.create("companies", tier).name == "tier"
    assert http.get("/crm/v3/properties/companies/tier").json()["options"][0]["value"] == "gold"
    assert http.get("/crm/v3/properties/companies/no_such_thing").status_code == 404
    _create(http, "companies", tier="gold")
    rejected = http.post("/crm/v3/objects/companies", json={"properties": {"tier": "platinum"}})
    assert rejected.status_code == 400 and rejected.json()["errors"][0]["code"] == "INVALID_OPTION"
    with pytest.raises(PropertiesApiException) as duplicate:
        core.create("companies", tier)
    assert duplicate.value.status == 409
    vat = {"name": "vat_number", "label": "VAT", "type": "string", "fieldType": "text",
           "groupName": "concord_sync", "hasUniqueValue": True}
    assert http.post("/crm/v3/properties/companies", json=vat).status_code == 201
    _create(http, "companies", vat_number="FR123")
    assert http.post("/crm/v3/objects/companies", json={"properties": {"vat_number": "FR123"}}).status_code == 409


# -- auth, rate limits, admin -----------------------------------------------------------------------


def test_bearer_token_is_required(twin: Twin) -> None:
    base = twin.handle.base_url
    missing = httpx.get(f"{base}/crm/v3/objects/companies")
    wrong = httpx.get(f"{base}/crm/v3/objects/companies", headers={"Authorization": "Bearer pat-na1-wrong"})
    for response in (missing, wrong):
        assert response.status_code == 401
        body = response.json()
        assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
        assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    client = HubSpot(access_token="pat-na1-wrong", host=base)
    with pytest.raises(ApiException) as caught:
        client.crm.companies.basic_api.get_page()
    assert caught.value.status == 401


def test_rate_limit_headers_on_every_call(http: httpx.Client) -> None:
    first = http.get("/crm/v3/objects/companies")
    second = http.post("/crm/v3/objects/companies/search", json={})
    assert first.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "625000"
    remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining == [189, 188]
    assert second.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "624998"


def test_burst_limit_429_after_190_requests_in_ten_seconds(sdk: HubSpot, http: httpx.Client, twin: Twin) -> None:
    statuses = [http.get("/crm/v3/objects/contacts", params={"limit": 1}).status_code for _ in range(190)]
    assert statuses == [200] * 190
    throttled = http.get("/crm/v3/objects/contacts")
    assert throttled.status_code == 429
    body = throttled.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert throttled.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    with pytest.raises(ApiException) as caught:
        sdk.crm.companies.basic_api.get_page()
    assert caught.value.status == 429
    twin.clock.advance(9.9)
    assert http.get("/crm/v3/objects/contacts").status_code == 429
    twin.clock.advance(0.2)
    assert http.get("/crm/v3/objects/contacts").status_code == 200
    stats = http.get("/__twin__/stats").json()
    assert stats["rateLimited"] == {"TEN_SECONDLY_ROLLING": 3, "DAILY": 0}


def test_daily_quota_429() -> None:
    clock = FakeClock()
    handle, _ = _start(clock, daily_quota=3)
    try:
        with httpx.Client(base_url=handle.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            assert [client.get("/crm/v3/objects/deals").status_code for _ in range(3)] == [200] * 3
            clock.advance(60)
            refused = client.get("/crm/v3/objects/deals")
            clock.advance(86_400)
            next_day = client.get("/crm/v3/objects/deals")
        assert refused.status_code == 429 and refused.json()["policyName"] == "DAILY"
        assert refused.json()["message"] == "You have reached your daily limit."
        assert refused.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        assert next_day.status_code == 200 and next_day.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"
    finally:
        handle.stop()


def test_admin_counts_and_reset(http: httpx.Client) -> None:
    _create(http, "deals", dealname="D1")
    gone = _create(http, "deals", dealname="D2")
    http.delete(f"/crm/v3/objects/deals/{gone['id']}")
    assert http.get("/__twin__/counts").json()["deals"] == {"live": 1, "archived": 1}
    assert http.post("/__twin__/reset").status_code == 200
    assert http.get("/__twin__/counts").json()["deals"] == {"live": 0, "archived": 0}
