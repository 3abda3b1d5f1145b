"""The Zendesk twin, driven by the zenpy client and by raw HTTP, against the documented API behaviour."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from zenpy import Zenpy
from zenpy.lib.api_objects import JobStatus, Organization, User
from zenpy.lib.exception import APIException, RecordNotFoundException

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.zendesk import ZendeskStore, ZendeskTwinSettings, create_app

START = 1_700_000_000.0
EMAIL = "admin@concord.test"
TOKEN = "twin-api-token"
RECORD_NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Twin:
    handle: ServerHandle
    app: FastAPI
    clock: FakeClock
    http: httpx.Client

    @property
    def store(self) -> ZendeskStore:
        store: ZendeskStore = self.app.state.store
        return store

    def org(self, name: str, **fields: Any) -> int:
        return self.store.create_organization({"name": name, **fields}).id


@contextmanager
def running_twin(**overrides: Any) -> Iterator[Twin]:
    clock = FakeClock()
    app = create_app(ZendeskTwinSettings(clock=clock, **overrides))
    handle = serve_in_thread(app)
    client = httpx.Client(base_url=handle.base_url, auth=(f"{EMAIL}/token", TOKEN), timeout=10)
    try:
        yield Twin(handle, app, clock, client)
    finally:
        client.close()
        handle.stop()


@pytest.fixture
def twin() -> Iterator[Twin]:
    with running_twin() as running:
        yield running


def make_zenpy(twin: Twin, monkeypatch: pytest.MonkeyPatch, token: str = TOKEN) -> Zenpy:
    # zenpy builds https://{subdomain}.zendesk.com URLs; these two variables are its documented override.
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", f"127.0.0.1:{twin.handle.port}")
    return Zenpy(subdomain="concord-sandbox", email=EMAIL, token=token, disable_cache=True)


@pytest.fixture
def zenpy(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> Zenpy:
    return make_zenpy(twin, monkeypatch)


def api_error(call: Callable[[], object]) -> tuple[int, Any]:
    with pytest.raises(APIException) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


# ---- authentication ---------------------------------------------------------------------------------------


def test_bad_credentials_get_401_with_zendesk_body(twin: Twin) -> None:
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}/token:wrong".encode()).decode()},
        {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()},
        {"Authorization": "Bearer not-a-token"},
    ]
    for headers in attempts:
        response = httpx.get(f"{twin.handle.base_url}/api/v2/organizations.json", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}


def test_oauth_bearer_token_is_accepted(twin: Twin) -> None:
    response = httpx.get(
        f"{twin.handle.base_url}/api/v2/organizations", headers={"Authorization": "Bearer twin-oauth-token"}
    )
    assert response.status_code == 200
    assert response.json()["organizations"] == []


def test_zenpy_with_a_wrong_token_raises_api_exception(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_zenpy(twin, monkeypatch, token="wrong")
    status, body = api_error(lambda: client.organizations(id=1))
    assert (status, body) == (401, {"error": "Couldn't authenticate you"})


# ---- organizations through zenpy --------------------------------------------------------------------------


def test_zenpy_creates_and_reads_an_organization(twin: Twin, zenpy: Zenpy) -> None:
    created = zenpy.organizations.create(
        Organization(
            name="Acme",
            external_id="ACME-1",
            tags=["Gold", "priority"],
            domain_names=["Acme.test"],
            notes="key account",
            organization_fields={"support_tier": "gold", "entitlement_seats": 25, "undefined_field": "x"},
        )
    )
    shown = zenpy.organizations(id=created.id)
    assert shown.name == "Acme" and shown.external_id == "ACME-1" and shown.notes == "key account"
    assert shown.tags == ["gold", "priority"]
    assert shown.domain_names == ["acme.test"]
    # Undefined custom fields are dropped; defined ones are all listed, null when unset.
    assert shown.organization_fields == {
        "support_tier": "gold",
        "concord_id": None,
        "entitlement_seats": 25,
        "entitlement_end": None,
        "contract_status": None,
        "order_number": None,
    }
    assert shown.url == f"{twin.handle.base_url}/api/v2/organizations/{created.id}.json"
    assert shown.created_at == shown.updated_at == "2023-11-14T22:13:20Z"


def test_zenpy_update_merges_custom_fields_and_bumps_updated_at(twin: Twin, zenpy: Zenpy) -> None:
    org_id = twin.org("Acme", organization_fields={"support_tier": "silver", "concord_id": "c-1"})
    twin.clock.advance(30)
    org = zenpy.organizations(id=org_id)
    org.organization_fields = {"support_tier": "gold"}
    updated = zenpy.organizations.update(org)
    assert updated.organization_fields["support_tier"] == "gold"
    assert updated.organization_fields["concord_id"] == "c-1"
    assert updated.updated_at == "2023-11-14T22:13:50Z" and updated.created_at == "2023-11-14T22:13:20Z"


def test_an_update_that_changes_nothing_keeps_updated_at(twin: Twin) -> None:
    org_id = twin.org("Acme", notes="n", organization_fields={"support_tier": "gold"})
    twin.clock.advance(90)
    same = {"organization": {"name": "Acme", "notes": "n", "organization_fields": {"support_tier": "gold"}}}
    body = twin.http.put(f"/api/v2/organizations/{org_id}.json", json=same).json()["organization"]
    assert body["updated_at"] == "2023-11-14T22:13:20Z"
    changed = {"organization": {"organization_fields": {"support_tier": "silver"}}}
    body = twin.http.put(f"/api/v2/organizations/{org_id}.json", json=changed).json()["organization"]
    assert body["updated_at"] == "2023-11-14T22:14:50Z"


def test_zenpy_delete_then_show_raises_record_not_found(twin: Twin, zenpy: Zenpy) -> None:
    org_id = twin.org("Acme")
    member = twin.store.create_user({"name": "Ann", "email": "ann@acme.test", "organization_id": org_id})
    zenpy.organizations.delete(zenpy.organizations(id=org_id))
    with pytest.raises(RecordNotFoundException) as caught:
        zenpy.organizations(id=org_id)
    assert caught.value.response.json() == RECORD_NOT_FOUND
    assert twin.store.get_user(member.id).organization_id is None


def test_duplicate_name_is_record_invalid_regardless_of_case(twin: Twin, zenpy: Zenpy) -> None:
    twin.org("Acme")
    status, body = api_error(lambda: zenpy.organizations.create(Organization(name="ACME")))
    assert status == 422
    assert body == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"name": [{"description": "Name: ACME has already been taken", "error": "DuplicateValue"}]},
    }


def test_create_or_update_matches_on_external_id(twin: Twin, zenpy: Zenpy) -> None:
    first = twin.http.post(
        "/api/v2/organizations/create_or_update.json",
        json={"organization": {"name": "Acme", "external_id": "acme-1"}},
    )
    assert first.status_code == 201
    again = zenpy.organizations.create_or_update(
        Organization(external_id="ACME-1", organization_fields={"support_tier": "gold"})
    )
    assert again.id == first.json()["organization"]["id"]
    assert again.name == "Acme" and again.organization_fields["support_tier"] == "gold"
    second = twin.http.post(
        "/api/v2/organizations/create_or_update", json={"organization": {"external_id": "acme-1", "notes": "n"}}
    )
    assert second.status_code == 200 and twin.store.counts()["organizations"] == 1


def test_zenpy_create_many_returns_a_job_that_reports_created_ids(twin: Twin, zenpy: Zenpy) -> None:
    twin.org("Taken")
    job = zenpy.organizations.create([Organization(name="One"), Organization(name="taken"), Organization()])
    assert isinstance(job, JobStatus) and job.status == "queued"
    done = zenpy.job_status(id=job.id)
    assert done.status == "completed" and done.total == done.progress == 3
    raw = twin.http.get(f"/api/v2/job_statuses/{job.id}").json()["job_status"]
    one = twin.store.search_organizations(None, "One")[0]
    assert raw["results"] == [
        {"id": one.id, "index": 0},
        {"index": 1, "error": "DuplicateValue", "details": "Name: taken has already been taken"},
        {"index": 2, "error": "BlankValue", "details": "Name: cannot be blank"},
    ]


def test_zenpy_update_many_applies_each_change(twin: Twin, zenpy: Zenpy) -> None:
    ids = [twin.org(f"Org {n}") for n in range(2)]
    orgs = [zenpy.organizations(id=org_id) for org_id in ids]
    for org in orgs:
        org.notes = f"note for {org.id}"
    job = zenpy.organizations.update(orgs)
    results = twin.http.get(f"/api/v2/job_statuses/{job.id}.json").json()["job_status"]["results"]
    assert [r["status"] for r in results] == ["Updated", "Updated"]
    assert [twin.store.get_organization(i).notes for i in ids] == [f"note for {i}" for i in ids]
    by_ids = twin.http.put(
        f"/api/v2/organizations/update_many.json?ids={ids[0]},999", json={"organization": {"details": "d"}}
    ).json()["job_status"]
    failed = twin.http.get(by_ids["url"]).json()["job_status"]["results"][1]
    assert failed == {
        "id": 999,
        "action": "update",
        "success": False,
        "status": "Failed",
        "error": "RecordNotFound",
        "details": "Not found",
    }
    assert twin.store.get_organization(ids[0]).details == "d"


def test_zenpy_pages_through_every_organization(twin: Twin, zenpy: Zenpy) -> None:
    expected = [twin.org(f"Org {n:03}") for n in range(230)]
    assert [org.id for org in zenpy.organizations()] == expected  # cursor pagination, page[size]=100
    assert [org.id for org in zenpy.organizations(cursor_pagination=False)] == expected  # offset


def test_zenpy_external_helper_finds_nothing_because_it_corrupts_the_query(twin: Twin, zenpy: Zenpy) -> None:
    # zenpy 2.0.x appends "?include=None" to the external id in organizations.external(); Zendesk, like the
    # twin, then matches nothing. Connectors must call /organizations/search?external_id= themselves.
    org_id = twin.org("Acme", external_id="acme-1")
    assert list(zenpy.organizations.external("acme-1")) == []
    found = twin.http.get("/api/v2/organizations/search.json", params={"external_id": "ACME-1"}).json()
    assert [org["id"] for org in found["organizations"]] == [org_id]
    assert found["count"] == 1 and found["next_page"] is None


# ---- users ------------------------------------------------------------------------------------------------


def test_zenpy_user_create_or_update_matches_on_email_then_external_id(twin: Twin, zenpy: Zenpy) -> None:
    org_id = twin.org("Acme")
    made = zenpy.users.create_or_update(User(name="Ann", email="Ann@Acme.test", organization_id=org_id))
    assert made.email == "ann@acme.test" and made.role == "end-user" and made.organization_id == org_id
    by_email = zenpy.users.create_or_update(
        User(name="Ann B", email="ann@acme.test", external_id="u-1", user_fields={"support_tier": "gold"})
    )
    by_external = zenpy.users.create_or_update(User(external_id="u-1", role="agent", suspended=True))
    assert made.id == by_email.id == by_external.id and twin.store.counts()["users"] == 1
    assert by_external.name == "Ann B" and by_external.role == "agent" and by_external.suspended is True
    assert by_external.user_fields == {"concord_id": None, "support_tier": "gold"}


def test_zenpy_user_search_by_external_id_and_email(twin: Twin, zenpy: Zenpy) -> None:
    ann = twin.store.create_user({"name": "Ann", "email": "ann@acme.test", "external_id": "u-1"})
    twin.store.create_user({"name": "Bob", "email": "bob@acme.test"})
    assert [u.id for u in zenpy.users.search(external_id="U-1")] == [ann.id]
    assert [u.id for u in zenpy.users.search(query="ann@acme.test")] == [ann.id]
    assert [u.id for u in zenpy.users.search(query="email:ann@acme.test")] == [ann.id]
    assert list(zenpy.users.search(external_id="nobody")) == []


def test_zenpy_create_or_update_many_users_runs_as_a_job(twin: Twin, zenpy: Zenpy) -> None:
    twin.store.create_user({"name": "Ann", "email": "ann@acme.test"})
    job = zenpy.users.create_or_update([User(name="Ann 2", email="ann@acme.test"), User(name="Cy", email="c@x.io")])
    results = zenpy.job_status(id=job.id).results
    assert [(r.action, r.status) for r in results] == [("update", "Updated"), ("create", "Created")]


def test_user_validation_errors(twin: Twin) -> None:
    twin.store.create_user({"name": "Ann", "email": "ann@acme.test"})
    cases = {
        "organization_id": {"name": "X", "organization_id": 123},
        "email": {"name": "X", "email": "ANN@acme.test"},
        "role": {"name": "X", "role": "owner"},
    }
    for field, user in cases.items():
        response = twin.http.post("/api/v2/users.json", json={"user": user})
        assert response.status_code == 422, field
        assert list(response.json()["details"]) == [field]
    bad_email = twin.http.post("/api/v2/users", json={"user": {"name": "X", "email": "nope"}}).json()
    assert bad_email["details"]["email"][0]["error"] == "InvalidFormat"


# ---- incremental exports ----------------------------------------------------------------------------------


def test_incremental_organizations_pages_by_time_and_skips_the_last_minute(twin: Twin) -> None:
    first = twin.org("A")
    twin.clock.advance(5)
    second = twin.org("B")
    twin.clock.advance(5)
    third = twin.org("C")
    twin.clock.advance(120)
    recent = twin.org("Too fresh")
    params = {"start_time": int(START), "per_page": 2}
    body = twin.http.get("/api/v2/incremental/organizations.json", params=params).json()
    assert [o["id"] for o in body["organizations"]] == [first, second]
    assert body["count"] == 2 and body["end_time"] == int(START) + 5 and body["end_of_stream"] is False
    rest = twin.http.get(body["next_page"]).json()
    # The next page restarts at end_time, so records stamped that second come again (documented).
    assert [o["id"] for o in rest["organizations"]] == [second, third]
    assert rest["end_of_stream"] is True and recent not in [o["id"] for o in rest["organizations"]]


def test_incremental_start_time_inside_the_last_minute_is_rejected(twin: Twin) -> None:
    response = twin.http.get("/api/v2/incremental/organizations", params={"start_time": int(START) - 30})
    assert response.status_code == 422
    assert response.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }


def test_incremental_user_cursor_resumes_and_sees_later_changes(twin: Twin) -> None:
    ann = twin.store.create_user({"name": "Ann"})
    bob = twin.store.create_user({"name": "Bob"})
    twin.clock.advance(61)
    body = twin.http.get("/api/v2/incremental/users/cursor.json", params={"start_time": int(START)}).json()
    assert [u["id"] for u in body["users"]] == [ann.id, bob.id] and body["end_of_stream"] is True
    idle = twin.http.get(body["after_url"]).json()
    assert idle["users"] == [] and idle["after_cursor"] == body["after_cursor"]
    twin.store.update_user(ann.id, {"suspended": True})
    twin.clock.advance(61)
    changed = twin.http.get("/api/v2/incremental/users/cursor", params={"cursor": body["after_cursor"]}).json()
    assert [(u["id"], u["suspended"]) for u in changed["users"]] == [(ann.id, True)]


def test_zenpy_incremental_exports(twin: Twin, zenpy: Zenpy) -> None:
    twin.org("A")
    twin.store.create_user({"name": "Ann"})
    twin.clock.advance(120)
    assert [o.name for o in zenpy.organizations.incremental(start_time=int(START))] == ["A"]
    assert [u.name for u in zenpy.users.incremental(start_time=int(START))] == ["Ann"]


# ---- list pagination over raw HTTP ------------------------------------------------------------------------


def test_cursor_pagination_meta_and_links(twin: Twin) -> None:
    ids = [twin.org(f"Org {n}") for n in range(5)]
    seen: list[int] = []
    page = twin.http.get("/api/v2/organizations.json", params={"page[size]": 2}).json()
    flags = []
    while True:
        seen += [o["id"] for o in page["organizations"]]
        flags.append(page["meta"]["has_more"])
        if not page["meta"]["has_more"]:
            break
        page = twin.http.get(page["links"]["next"]).json()
    assert seen == ids and flags == [True, True, False]
    back = twin.http.get(page["links"]["prev"]).json()
    assert [o["id"] for o in back["organizations"]] == ids[2:4] and back["meta"]["has_more"] is True


def test_bad_cursor_parameters_are_400(twin: Twin) -> None:
    too_big = twin.http.get("/api/v2/organizations", params={"page[size]": 101})
    bad_cursor = twin.http.get("/api/v2/organizations", params={"page[size]": 10, "page[after]": "%%%"})
    for response in (too_big, bad_cursor):
        assert response.status_code == 400
        assert response.json()["error"] == "InvalidPaginationParameter"


def test_offset_pagination_next_previous_and_count(twin: Twin) -> None:
    ids = [twin.org(f"Org {n}") for n in range(5)]
    page2 = twin.http.get("/api/v2/organizations", params={"page": 2, "per_page": 2}).json()
    assert [o["id"] for o in page2["organizations"]] == ids[2:4] and page2["count"] == 5
    assert [o["id"] for o in twin.http.get(page2["next_page"]).json()["organizations"]] == ids[4:]
    assert [o["id"] for o in twin.http.get(page2["previous_page"]).json()["organizations"]] == ids[:2]
    last = twin.http.get(page2["next_page"]).json()
    assert last["next_page"] is None


# ---- errors and routing -----------------------------------------------------------------------------------


def test_blank_name_gets_the_documented_422_body(twin: Twin) -> None:
    response = twin.http.post("/api/v2/organizations.json", json={"organization": {"name": "  "}})
    assert response.status_code == 422
    assert response.json() == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"name": [{"description": "Name: cannot be blank", "error": "BlankValue"}]},
    }


def test_missing_records_and_endpoints_are_404(twin: Twin) -> None:
    assert twin.http.get("/api/v2/organizations/42.json").json() == RECORD_NOT_FOUND
    assert twin.http.put("/api/v2/users/abc", json={"user": {}}).json() == RECORD_NOT_FOUND
    assert twin.http.get("/api/v2/job_statuses/nope").status_code == 404
    unknown = twin.http.get("/api/v2/widgets.json")
    assert unknown.status_code == 404 and unknown.json() == {"error": "InvalidEndpoint", "description": "Not found"}


def test_unparseable_json_is_400(twin: Twin) -> None:
    response = twin.http.post(
        "/api/v2/organizations.json", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and twin.store.counts()["organizations"] == 0


def test_create_answers_201_with_location_on_both_path_forms(twin: Twin) -> None:
    for path, name in (("/api/v2/organizations.json", "A"), ("/api/v2/organizations", "B")):
        response = twin.http.post(path, json={"organization": {"name": name}})
        assert response.status_code == 201
        assert response.headers["Location"] == response.json()["organization"]["url"]
    assert twin.http.delete(f"/api/v2/organizations/{twin.org('C')}.json").status_code == 204


def test_too_many_bulk_items_is_rejected(twin: Twin) -> None:
    items = [{"name": f"Org {n}"} for n in range(101)]
    response = twin.http.post("/api/v2/organizations/create_many.json", json={"organizations": items})
    assert response.status_code == 400 and response.json()["error"] == "TooManyValues"


def test_job_reports_queued_until_its_delay_has_passed() -> None:
    with running_twin(job_completion_delay_s=5) as twin:
        job = twin.http.post("/api/v2/organizations/create_many", json={"organizations": [{"name": "A"}]})
        url = job.json()["job_status"]["url"]
        assert twin.http.get(url).json()["job_status"]["status"] == "queued"
        twin.clock.advance(5)
        assert twin.http.get(url).json()["job_status"]["status"] == "completed"


# ---- rate limit and admin ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_until_the_window_passes() -> None:
    with running_twin(requests_per_minute=3) as twin:
        remaining = []
        for _ in range(3):
            response = twin.http.get("/api/v2/organizations.json")
            remaining.append(response.headers["X-Rate-Limit-Remaining"])
            assert response.headers["X-Rate-Limit"] == response.headers["ratelimit-limit"] == "3"
        assert remaining == ["2", "1", "0"]
        twin.clock.advance(20)
        limited = twin.http.get("/api/v2/organizations.json")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "40"
        assert limited.text == "Number of allowed API requests per minute exceeded"
        twin.clock.advance(40)
        assert twin.http.get("/api/v2/organizations.json").status_code == 200


def test_admin_endpoints_skip_auth_and_limits_and_reset_everything() -> None:
    with running_twin(requests_per_minute=1) as twin:
        twin.org("A")
        twin.http.get("/api/v2/organizations")
        assert twin.http.get("/api/v2/organizations").status_code == 429
        counts = httpx.get(f"{twin.handle.base_url}/__twin__/counts").json()
        assert counts == {"organizations": 1, "users": 0, "job_statuses": 0}
        assert httpx.post(f"{twin.handle.base_url}/__twin__/reset").status_code == 200
        after = twin.http.get("/api/v2/organizations")
        assert after.status_code == 200 and after.json()["organizations"] == []
