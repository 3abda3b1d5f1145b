"""SCIM error mapping, request shapes, authentication and rate-limit handling, against scripted answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from scim2_models import BulkRequest, Context, Group, PatchOp, User

from concord.connectors.base import AuthError, Conflict, DataRejected, NotFound, RateLimited, RetryableError
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.scim import ScimConfig, ScimConnector, ScimFeatures
from concord.connectors.scim.client import equality_filter, field_from_detail, scim_error

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "https://idp.example.test/scim/v2"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "id": "u1",
    "userName": "ann",
    "externalId": "k-1",
    "meta": {"resourceType": "User", "lastModified": "2024-05-01T10:00:00.123456Z", "version": 'W/"3"'},
}
EMPTY_LIST = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}


def scim(status: int, body: object | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"Content-Type": "application/scim+json", **(headers or {})})


def failure(status: int, detail: str, scim_type: str | None = None) -> httpx.Response:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    return scim(status, body | ({"scimType": scim_type} if scim_type else {}))


def scripted(*answers: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return handle, seen


def connector(handler: Handler, features: ScimFeatures | None = None, clock: ManualClock | None = None,
              **overrides: object) -> ScimConnector:
    values: dict[str, object] = {"base_url": BASE, "bearer_token": SecretStr("s3cr3t-token"),
                                 "retry": RetryPolicy(max_attempts=4, base_delay_s=0.01)}
    values.update(overrides)
    return ScimConnector(ScimConfig.model_validate(values), features, clock=clock or ManualClock(),
                         transport=httpx.MockTransport(handler))


def mapped(response: httpx.Response, method: str = "POST") -> object:
    response.request = httpx.Request(method, f"{BASE}/Users")
    return scim_error(response)


# ---- error mapping ----------------------------------------------------------------------------------------


def test_scim_error_bodies_map_to_typed_errors() -> None:
    missing = mapped(failure(400, "Field 'userName' is required but value is missing, null or empty", "invalidValue"))
    assert isinstance(missing, DataRejected) and (missing.field, missing.code) == ("userName", "invalidValue")
    assert "userName" in missing.message and missing.system == "scim"
    bad_type = mapped(failure(400, "Input should be a valid boolean: active", "invalidValue"))
    assert isinstance(bad_type, DataRejected) and bad_type.field == "active"
    nested = mapped(failure(400, "value is not a valid email address: emails[0].value", "invalidValue"))
    assert isinstance(nested, DataRejected) and nested.field == "emails[0].value"
    assert isinstance(mapped(failure(409, "already in use", "uniqueness")), Conflict)
    assert isinstance(mapped(failure(412, "version mismatch")), Conflict)
    assert isinstance(mapped(failure(404, "User 'x' not found"), "GET"), NotFound)
    assert isinstance(mapped(failure(401, "Authorization failure")), AuthError)
    limited = mapped(scim(429, None, {"Retry-After": "3"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 3.0
    assert type(mapped(failure(503, "down"), "GET")) is RetryableError


def test_field_names_come_only_from_what_the_detail_names() -> None:
    assert field_from_detail("One or more of the attribute values are already in use or are reserved") is None
    assert field_from_detail("Field 'name.givenName' is required") == "name.givenName"


def test_filters_quote_values_and_refuse_attribute_injection() -> None:
    assert equality_filter({"userName": 'a"b\\c', "active": True}) == 'userName eq "a\\"b\\\\c" and active eq true'
    with pytest.raises(DataRejected) as caught:
        equality_filter({'userName eq "x" or userName': "y"})
    assert caught.value.code == "invalidFilter"


# ---- request shapes (checked with scim2-models, the models scim2-client validates with) -----------------


def test_create_looks_up_the_key_then_posts_a_valid_creation_request() -> None:
    handler, seen = scripted(scim(200, EMPTY_LIST), scim(201, USER))
    record = connector(handler).create("Users", {"userName": "ann", "id": "ignored"}, idempotency_key="k-1")
    assert record.id == "u1" and record.modified_at is not None
    lookup, post = seen
    assert lookup.url.params["filter"] == 'externalId eq "k-1"'
    assert post.headers["content-type"] == "application/scim+json"
    body = json.loads(post.content)
    assert body == {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann", "externalId": "k-1"}
    User[Any].model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)


def test_update_sends_a_patch_op_replace_and_reads_back_after_204() -> None:
    handler, seen = scripted(scim(204), scim(200, USER))
    conn = connector(handler, ScimFeatures(patch=True))
    assert conn.update("Users", "u1", {"displayName": "Ann", "meta": {"version": "x"}}).id == "u1"
    patch = json.loads(seen[0].content)
    assert seen[0].method == "PATCH" and patch["Operations"] == [{"op": "replace", "value": {"displayName": "Ann"}}]
    PatchOp[User[Any]].model_validate(patch, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    assert [r.method for r in seen] == ["PATCH", "GET"]


def test_without_patch_an_update_is_get_merge_put_with_if_match() -> None:
    handler, seen = scripted(scim(200, USER), scim(200, USER | {"displayName": "Ann"}))
    conn = connector(handler, ScimFeatures(etag=True))
    assert conn.update("Users", "u1", {"displayName": "Ann"}).fields["displayName"] == "Ann"
    put = seen[1]
    assert put.method == "PUT" and put.headers["if-match"] == 'W/"3"'
    body = json.loads(put.content)
    assert body["userName"] == "ann" and body["displayName"] == "Ann" and "meta" not in body and "id" not in body
    User[Any].model_validate(body, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)


def test_membership_changes_are_patch_add_and_filtered_remove() -> None:
    handler, seen = scripted(scim(204), failure(400, "no member matched", "noTarget"))
    conn = connector(handler, ScimFeatures(patch=True))
    conn.add_members("g1", ["u1", "u2"])
    conn.remove_members("g1", ["u1"])  # noTarget: already removed, which is what we wanted
    add, remove = (json.loads(r.content) for r in seen)
    assert add["Operations"] == [{"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}]
    assert remove["Operations"] == [{"op": "remove", "path": 'members[value eq "u1"]'}]
    for body in (add, remove):
        PatchOp[Group].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)


def test_one_absent_member_does_not_block_removing_the_others() -> None:
    no_target = failure(400, "no member matched the filter", "noTarget")
    handler, seen = scripted(no_target, scim(204), no_target)
    connector(handler, ScimFeatures(patch=True)).remove_members("g1", ["u1", "gone"])
    paths = [[op["path"] for op in json.loads(r.content)["Operations"]] for r in seen]
    assert paths == [['members[value eq "u1"]', 'members[value eq "gone"]'], ['members[value eq "u1"]'],
                     ['members[value eq "gone"]']]


def test_create_many_users_is_one_valid_bulk_request() -> None:
    answer = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"], "Operations": [
        {"method": "POST", "bulkId": "item0", "status": "201", "location": f"{BASE}/Users/u1"},
        {"method": "POST", "bulkId": "item1", "status": "400",
         "response": {"schemas": [ERROR], "status": "400", "scimType": "invalidValue",
                      "detail": "Field 'userName' is required but value is missing, null or empty: data"}},
    ]}
    handler, seen = scripted(scim(200, answer))
    results = connector(handler, ScimFeatures(bulk_max_operations=10)).create_many(
        "Users", [("k-1", {"userName": "ann"}), ("k-2", {"displayName": "nameless"})]
    )
    assert [(r.external_id, r.id, r.action, r.field) for r in results] == [
        ("k-1", "u1", "created", None), ("k-2", None, "failed", "userName")]
    assert len(seen) == 1 and seen[0].url.path == "/scim/v2/Bulk"
    BulkRequest[User[Any]].model_validate(json.loads(seen[0].content), scim_ctx=Context.BULK_REQUEST)


# ---- authentication and limits ----------------------------------------------------------------------------


def test_bearer_token_is_refreshed_once_after_a_401() -> None:
    handler, seen = scripted(failure(401, "Authorization failure"), scim(200, USER))
    config = ScimConfig(base_url=BASE, bearer_token=SecretStr("old"))
    conn = ScimConnector(config, refresher=lambda: "new", transport=httpx.MockTransport(handler))
    assert conn.read("Users", "u1") is not None
    assert [r.headers["authorization"] for r in seen] == ["Bearer old", "Bearer new"]


def test_a_refused_token_is_an_auth_error_that_never_shows_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler, seen = scripted(failure(401, "Authorization failure. The authorization header is invalid"))
    conn = connector(handler)
    with pytest.raises(AuthError) as caught:
        conn.read("Users", "u1")
    assert len(seen) == 1
    for text in (str(caught.value), caplog.text, repr(conn.config), repr(conn.client.auth)):
        assert "s3cr3t-token" not in text


def test_no_token_means_no_authorization_header() -> None:
    handler, seen = scripted(scim(200, USER))
    ScimConnector(ScimConfig(base_url=BASE), transport=httpx.MockTransport(handler)).read("Users", "u1")
    assert "authorization" not in seen[0].headers


def test_a_429_waits_retry_after_once_then_succeeds() -> None:
    handler, seen = scripted(scim(429, None, {"Retry-After": "4"}), scim(200, USER))
    clock = ManualClock()
    assert connector(handler, clock=clock).read("Users", "u1") is not None
    assert len(seen) == 2 and 4.0 <= sum(clock.sleeps) < 5.0


def test_a_lost_post_answer_is_looked_up_before_posting_again() -> None:
    handler, seen = scripted(scim(200, EMPTY_LIST), scim(502, {"detail": "bad gateway"}),
                             scim(200, EMPTY_LIST | {"totalResults": 1, "Resources": [USER]}))
    record = connector(handler).create("Users", {"userName": "ann"}, idempotency_key="k-1")
    assert record.id == "u1"
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/scim/v2/Users"), ("POST", "/scim/v2/Users"),
                                                      ("GET", "/scim/v2/Users")]
