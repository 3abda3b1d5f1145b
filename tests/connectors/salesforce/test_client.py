"""The wire layer: Salesforce error bodies to typed errors, session renewal, limit headers, SOQL literals."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.salesforce import DuplicateValue, SalesforceConfig, soql_literal
from concord.connectors.salesforce.client import record_error, soql_condition, soql_name
from concord.sandbox.salesforce import SalesforceTwinSettings
from concord.sandbox.salesforce.testing import RunningTwin, running_twin
from tests.connectors.salesforce.support import (
    CLIENT_SECRET,
    MOCK_TOKEN,
    build,
    config_for,
    connector_for,
    mock_connector,
    operations,
    recorder_of,
    token_response,
)

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
def twin() -> Iterator[RunningTwin]:
    with running_twin(SalesforceTwinSettings(daily_api_quota=50)) as running:
        yield running


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def _sf(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return [entry]


ERROR_CASES = [
    ("required", "POST", _answer(400, _sf("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]",
                                          ["Name"])), DataRejected, "Name", "REQUIRED_FIELD_MISSING"),
    ("unknown-field", "POST", _answer(400, _sf("INVALID_FIELD", "No such column 'Nickname' on sobject of type "
                                               "Account")), DataRejected, "Nickname", "INVALID_FIELD"),
    ("parser", "PATCH", _answer(400, _sf("JSON_PARSER_ERROR", "Cannot deserialize instance of currency from "
                                         "VALUE_STRING value abc at [line:1, column:20]")),
     DataRejected, None, "JSON_PARSER_ERROR"),
    ("too-long", "POST", _answer(400, _sf("STRING_TOO_LONG", "Account Name: data value too large: xxx (max "
                                          "length=255)", ["Name"])), DataRejected, "Name", "STRING_TOO_LONG"),
    ("duplicate", "POST", _answer(400, _sf("DUPLICATE_VALUE", "duplicate value found: Concord_Id__c duplicates "
                                           "value on record with id: 0015g0000000001AAA", [])),
     DuplicateValue, "Concord_Id__c", None),
    ("not-found", "GET", _answer(404, _sf("NOT_FOUND", "The requested resource does not exist")),
     NotFound, None, None),
    ("daily-quota", "GET", _answer(403, _sf("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                                   {"Sforce-Limit-Info": "api-usage=15000/15000"}), QuotaExhausted, None, None),
    ("daily-quota-no-header", "GET", _answer(403, _sf("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")),
     QuotaExhausted, None, None),
    ("concurrency", "GET", _answer(403, _sf("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit "
                                            "exceeded.")), RateLimited, None, None),
    ("no-access", "GET", _answer(403, _sf("INSUFFICIENT_ACCESS", "insufficient access rights")),
     AuthError, None, None),
    ("429", "GET", _answer(429, {"message": "slow down"}, {"Retry-After": "7"}), RateLimited, None, None),
    ("503", "GET", _answer(503, _sf("SERVER_UNAVAILABLE", "down")), RetryableError, None, None),
    ("502-write", "POST", _answer(502, {"message": "Bad gateway"}), AmbiguousWrite, None, None),
    ("500-write", "PATCH", _answer(500, _sf("UNKNOWN_EXCEPTION", "boom")), RetryableError, None, None),
    ("300", "PATCH", _answer(300, ["/services/data/v60.0/sobjects/Account/001A",
                                   "/services/data/v60.0/sobjects/Account/001B"]), Conflict, None, None),
    ("lock", "PATCH", _answer(400, _sf("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access")),
     RetryableError, None, None),
]


@pytest.mark.parametrize(("method", "response", "expected", "field", "code"),
                         [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES])
def test_error_bodies_map_to_typed_errors(
    method: str, response: httpx.Response, expected: type[ConnectorError], field: str | None, code: str | None
) -> None:
    connector = mock_connector(lambda _: response, retry=NO_RETRY)
    with pytest.raises(ConnectorError) as caught:
        connector.client.call(method, "/services/data/v60.0/sobjects/Account", "probe", body={},
                              write=method != "GET")
    error = caught.value
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    assert error.system == "salesforce"
    if isinstance(error, DataRejected):
        assert (error.field, error.code) == (field, code)
    if isinstance(error, DuplicateValue):
        assert error.field == field and error.existing_id == "0015g0000000001AAA"
    if expected is RateLimited and response.status_code == 429:
        assert isinstance(error, RateLimited) and error.retry_after == 7.0
    if isinstance(error, QuotaExhausted):
        assert error.resume_at is not None


def test_collection_result_entries_map_like_rest_errors() -> None:
    assert isinstance(record_error("UNABLE_TO_LOCK_ROW", "locked", []), RetryableError)
    assert isinstance(record_error("ENTITY_IS_DELETED", "entity is deleted", []), NotFound)
    rejected = record_error("INVALID_EMAIL_ADDRESS", "Email: invalid email address: x", ["Email"])
    assert isinstance(rejected, DataRejected) and (rejected.field, rejected.code) == ("Email", "INVALID_EMAIL_ADDRESS")


def test_read_of_missing_record_is_none_and_update_is_not_found() -> None:
    connector = mock_connector(lambda _: _answer(404, _sf("NOT_FOUND", "The requested resource does not exist")))
    assert connector.read("Account", "0015g0000000001AAA") is None
    with pytest.raises(NotFound):
        connector.update("Account", "0015g0000000001AAA", {"Phone": "1"})


# -- SOQL text ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "literal"), [
    ("Bob's BBQ", "'Bob\\'s BBQ'"),
    ("back\\slash", "'back\\\\slash'"),
    ('say "hi"\n\tnow', "'say \\\"hi\\\"\\n\\tnow'"),
    ("x' OR Name != '", "'x\\' OR Name != \\''"),
    (None, "null"),
    (True, "true"),
    (42, "42"),
    (2.5, "2.5"),
    (date(2024, 2, 29), "2024-02-29"),
    (datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "2024-01-02T03:04:05.678Z"),
])
def test_soql_literals_are_escaped(value: object, literal: str) -> None:
    assert soql_literal(value) == literal


def test_soql_names_cannot_smuggle_clauses() -> None:
    assert soql_condition("Account.Name", ["a", "b"]) == "Account.Name IN ('a', 'b')"
    for bad in ("Name = 'x' OR Id", "Name--", "1Name", ""):
        with pytest.raises(DataRejected):
            soql_name(bad)


def test_search_matches_quotes_and_backslashes_exactly(twin: RunningTwin) -> None:
    connector = connector_for(twin.base_url)
    tricky = "O'Brien \\ Sons \"Ltd\""
    created = connector.create("Account", {"Name": tricky}, idempotency_key="soql-1")
    connector.create("Account", {"Name": "Other"}, idempotency_key="soql-2")
    assert [r.id for r in connector.search("Account", {"Name": tricky})] == [created.id]
    assert connector.search("Account", {"Name": "x' OR Name != '"}) == []
    connector.close()


# -- OAuth sessions -------------------------------------------------------------------------------------


def test_expired_session_is_renewed_once_and_the_call_repeated(twin: RunningTwin) -> None:
    connector = connector_for(twin.base_url)
    created = connector.create("Account", {"Name": "Before expiry"}, idempotency_key="exp-1")
    assert httpx.post(f"{twin.base_url}/__twin__/expire-tokens").json()["expired"] == 1
    read = connector.read("Account", created.id)
    assert read is not None and read.fields["Name"] == "Before expiry"
    assert connector.client.auth.fetches == 2
    statuses = [s.status for s in recorder_of(connector).samples if s.operation == "sobject.read"]
    assert statuses == [200, 401, 200]  # create's read-back, then the refused call and its repeat
    connector.close()


def test_a_second_401_is_an_auth_error() -> None:
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"])
        return _answer(401, _sf("INVALID_SESSION_ID", "Session expired or invalid"))

    connector = mock_connector(refuse)
    with pytest.raises(AuthError) as caught:
        connector.read("Account", "0015g0000000001AAA")
    assert len(calls) == 2 and connector.client.auth.fetches == 2
    assert MOCK_TOKEN not in str(caught.value)


def test_a_renewed_session_on_another_instance_moves_the_call() -> None:
    instances = iter(["https://old.my.salesforce.com", "https://new.my.salesforce.com"])
    hosts: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return httpx.Response(200, json={"access_token": MOCK_TOKEN, "instance_url": next(instances)})
        hosts.append(request.url.host)
        if request.url.host.startswith("old"):
            return _answer(401, _sf("INVALID_SESSION_ID", "Session expired or invalid"))
        return _answer(200, {"attributes": {"type": "Account"}, "Id": "0015g0000000001AAA", "Name": "Moved"})

    connector = build(config_for("https://login.example.test"), transport=httpx.MockTransport(route))
    read = connector.read("Account", "0015g0000000001AAA")
    assert read is not None and read.fields["Name"] == "Moved"
    assert hosts == ["old.my.salesforce.com", "new.my.salesforce.com"]


def test_a_failing_token_endpoint_is_retried() -> None:
    answers = iter([httpx.Response(503, text="maintenance"), httpx.Response(429, headers={"Retry-After": "2"})])

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return next(answers, None) or token_response()
        return _answer(200, {"Id": "0015g0000000001AAA"})

    clock = ManualClock()
    connector = build(config_for("https://login.example.test"), clock=clock, transport=httpx.MockTransport(route))
    assert connector.read("Account", "0015g0000000001AAA") is not None
    assert connector.client.auth.fetches == 3
    assert max(clock.sleeps) >= 2.0  # the token endpoint's Retry-After was honoured


def test_refresh_token_grant(twin: RunningTwin) -> None:
    minted = httpx.post(f"{twin.base_url}/__twin__/refresh-tokens").json()["refresh_token"]
    connector = connector_for(twin.base_url, grant_type="refresh_token", client_secret=None,
                              refresh_token=SecretStr(minted))
    created = connector.create("Account", {"Name": "Via refresh token"}, idempotency_key="rt-1")
    assert created.fields["Concord_Id__c"] == "rt-1"
    connector.close()


def test_refused_credentials_are_an_auth_error_without_secrets(twin: RunningTwin) -> None:
    connector = connector_for(twin.base_url, client_secret=SecretStr("wrong-secret-value"))
    with pytest.raises(AuthError) as caught:
        connector.read("Account", "0015g0000000001AAA")
    assert "invalid_client" in str(caught.value) and "wrong-secret-value" not in str(caught.value)
    with pytest.raises(ValueError, match="client_secret"):
        SalesforceConfig(login_url=twin.base_url, client_id="x")


def test_secrets_never_reach_logs_or_errors(twin: RunningTwin, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector = connector_for(twin.base_url, retry=NO_RETRY)
    connector.create("Account", {"Name": "Logged"}, idempotency_key="log-1")
    httpx.post(f"{twin.base_url}/__twin__/expire-tokens")
    with pytest.raises(DataRejected) as caught:
        connector.create("Account", {"Name": "Bad", "Nickname": "x"}, idempotency_key="log-2")
    session = connector.client.auth.current()
    texts = caplog.text + str(caught.value) + repr(connector.client.auth) + repr(connector.config) + repr(session)
    assert caplog.records, "the instrumented transport logs each call"
    for secret in (CLIENT_SECRET, session.access_token, session.access_token.split("!")[1]):
        assert secret not in texts
    connector.close()


# -- limits ---------------------------------------------------------------------------------------------


def test_limit_header_feeds_the_governor(twin: RunningTwin) -> None:
    connector = connector_for(twin.base_url)
    connector.create("Account", {"Name": "Counted"}, idempotency_key="lim-1")
    used = twin.state.usage.used
    headroom = connector.quota_headroom()
    assert (headroom.daily_limit, headroom.daily_remaining) == (50, 50 - used)
    assert headroom.quota_resume_at is None
    connector.close()


def test_spent_daily_quota_parks_every_later_call(twin: RunningTwin) -> None:
    connector = connector_for(twin.base_url)
    assert httpx.put(f"{twin.base_url}/__twin__/api-usage", json={"used": 50}).status_code == 200
    with pytest.raises(QuotaExhausted) as first:
        connector.read("Account", "0015g0000000001AAA")
    assert first.value.resume_at is not None
    sent = len(recorder_of(connector).samples)
    with pytest.raises(QuotaExhausted):
        connector.read("Account", "0015g0000000001AAA")
    assert len(recorder_of(connector).samples) == sent  # refused by the governor, not by Salesforce
    assert connector.quota_headroom().daily_remaining == 0
    assert operations(connector, "sobject.read") == 1
    connector.close()
