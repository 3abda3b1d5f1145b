"""HubSpot error bodies, limit headers and the private-app token, against scripted responses."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    DataRejected,
    QuotaExhausted,
    RateLimited,
    RetryableError,
)
from concord.connectors.hubspot import HubSpotClient, HubSpotConfig
from concord.connectors.hubspot.auth import resolve_secret
from concord.connectors.hubspot.client import governed_limit
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from tests.connectors.hubspot.support import TOKEN, SteppingClock

Handler = Callable[[httpx.Request], httpx.Response]
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
LIMIT_HEADERS = {
    "X-HubSpot-RateLimit-Max": "190",
    "X-HubSpot-RateLimit-Remaining": "150",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Daily": "625000",
    "X-HubSpot-RateLimit-Daily-Remaining": "600000",
}


class Script:
    """Answers requests from a list of handlers, one per request, and keeps what it saw."""

    def __init__(self, *handlers: Handler) -> None:
        self._handlers = list(handlers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._handlers.pop(0)(request)


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers={**LIMIT_HEADERS, **(headers or {})})

    return handler


class Clients:
    """Builds clients answered by a `Script`; the fixture closes them all afterwards."""

    def __init__(self) -> None:
        self.made: list[HubSpotClient] = []

    def __call__(
        self, script: Script, retry: RetryPolicy = ONE_ATTEMPT, clock: ManualClock | None = None,
        resolver: Callable[[str], str] | None = None, **overrides: object,
    ) -> HubSpotClient:
        values: dict[str, object] = {"base_url": "https://api.hubapi.test", "retry": retry, **overrides}
        if "access_token_ref" not in values:
            values["access_token"] = SecretStr(TOKEN)
        config = HubSpotConfig.model_validate(values)
        clock = clock or SteppingClock(datetime(2024, 3, 9, 15, 30, tzinfo=UTC).timestamp())
        client = HubSpotClient(config, clock=clock, transport=httpx.MockTransport(script), resolver=resolver,
                               rng=random.Random(1))
        self.made.append(client)
        return client


@pytest.fixture
def client_for() -> Iterator[Clients]:
    clients = Clients()
    yield clients
    for client in clients.made:
        client.close()


def _upsert(client: HubSpotClient) -> dict[str, object]:
    body = {"inputs": [{"id": "C-1", "idProperty": "concord_id", "properties": {"name": "Acme"}}]}
    return client.call("POST", "/crm/v3/objects/companies/batch/upsert", "companies.batch.upsert", body=body,
                       write=True)


def test_unknown_property_is_rejected_naming_the_property(client_for: Clients) -> None:
    verdict = {"isValid": False, "message": 'Property "nope" does not exist', "error": "PROPERTY_DOESNT_EXIST",
               "name": "nope"}
    body = {
        "status": "error", "category": "VALIDATION_ERROR", "correlationId": "c-1",
        "message": "Property values were not valid: " + json.dumps([verdict]),
        "errors": [{"message": 'Property "nope" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                    "context": {"propertyName": ["nope"]}}],
    }
    script = Script(answer(400, body))
    client = client_for(script, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(DataRejected) as caught:
        _upsert(client)
    assert caught.value.field == "nope" and caught.value.code == "PROPERTY_DOESNT_EXIST"
    assert 'Property "nope" does not exist' in caught.value.message
    assert len(script.requests) == 1  # bad data is never retried


def test_invalid_value_named_from_the_verdicts_in_the_message(client_for: Clients) -> None:
    verdict = {"isValid": False, "message": "banana was not one of the allowed options", "error": "INVALID_OPTION",
               "name": "lifecyclestage"}
    body = {"status": "error", "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: " + json.dumps([verdict])}
    client = client_for(Script(answer(400, body)))
    with pytest.raises(DataRejected) as caught:
        _upsert(client)
    assert (caught.value.field, caught.value.code) == ("lifecyclestage", "INVALID_OPTION")


def test_unique_value_clash_is_a_conflict(client_for: Clients) -> None:
    body = {"status": "error", "category": "CONFLICT", "message": "Company already exists. Existing ID: 7"}
    client = client_for(Script(answer(409, body)))
    with pytest.raises(Conflict, match="Existing ID: 7"):
        _upsert(client)


def test_burst_429_waits_one_interval_and_pauses_the_governor(client_for: Clients) -> None:
    body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
    headers = {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "8000"}
    client = client_for(Script(answer(429, body, headers)))
    with pytest.raises(RateLimited) as caught:
        _upsert(client)
    assert caught.value.retry_after == 8.0
    assert client.governor.headroom(client.key).paused_for_s == pytest.approx(8.0)


def test_retry_after_header_wins_when_present(client_for: Clients) -> None:
    client = client_for(Script(answer(429, {"message": "Too many requests"}, {"Retry-After": "2"})))
    with pytest.raises(RateLimited) as caught:
        _upsert(client)
    assert caught.value.retry_after == 2.0


def test_burst_429_is_retried_after_the_interval(client_for: Clients) -> None:
    body = {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "limit"}
    result = {"status": "COMPLETE", "results": []}
    script = Script(answer(429, body), answer(200, result))
    client = client_for(script, retry=RetryPolicy(max_attempts=3, max_delay_s=1.0))
    assert _upsert(client) == result
    assert len(script.requests) == 2


def test_daily_429_is_quota_exhausted_until_local_midnight(client_for: Clients) -> None:
    body = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
            "policyName": "DAILY"}
    script = Script(answer(429, body, {"X-HubSpot-RateLimit-Daily-Remaining": "0"}))
    client = client_for(script, retry=RetryPolicy(max_attempts=4), quota_timezone="America/New_York")
    with pytest.raises(QuotaExhausted) as caught:
        _upsert(client)
    # 2024-03-09 15:30 UTC is 10:30 in New York (EST); the next local midnight is 05:00 UTC.
    assert caught.value.resume_at == datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    assert len(script.requests) == 1
    # The governor learnt it from the headers: the next call is refused without being sent.
    with pytest.raises(QuotaExhausted):
        _upsert(client)
    assert len(script.requests) == 1


def test_server_errors_are_retried(client_for: Clients) -> None:
    script = Script(answer(503, {"message": "unavailable"}), answer(200, {"id": "1", "properties": {}}))
    client = client_for(script, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    assert client.call("GET", "/crm/v3/objects/companies/1", "companies.read") == {"id": "1", "properties": {}}
    assert len(script.requests) == 2


@pytest.mark.parametrize(("write", "expected"), [(True, AmbiguousWrite), (False, RetryableError)])
def test_gateway_errors_are_ambiguous_only_for_writes(
    client_for: Clients, write: bool, expected: type[RetryableError]
) -> None:
    client = client_for(Script(answer(502, {"message": "Bad gateway"})))
    with pytest.raises(expected) as caught:
        client.call("POST", "/crm/v3/objects/companies/search", "companies.search", body={}, write=write)
    assert type(caught.value) is expected


def test_lost_response_of_a_write_is_ambiguous_and_unsent_request_is_not(client_for: Clients) -> None:
    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = client_for(Script(lost, refused))
    with pytest.raises(AmbiguousWrite):
        _upsert(client)
    with pytest.raises(RetryableError) as caught:
        _upsert(client)
    assert not isinstance(caught.value, AmbiguousWrite)


def test_literal_token_refused_is_an_auth_error_without_the_token(
    client_for: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "Authentication credentials not found."}
    script = Script(answer(401, body))
    client = client_for(script, retry=RetryPolicy(max_attempts=3))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        _upsert(client)
    assert len(script.requests) == 1
    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text
    assert "INVALID_AUTHENTICATION" in caught.value.message


def test_referenced_token_is_read_again_once_after_a_401(client_for: Clients) -> None:
    tokens = iter(["pat-na1-stale", TOKEN, "pat-na1-never-used"])
    resolved: list[str] = []

    def resolver(reference: str) -> str:
        assert reference == "env:HUBSPOT_TOKEN"
        resolved.append(next(tokens))
        return resolved[-1]

    def check(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(200 if ok else 401, json={"id": "1", "properties": {}} if ok else {"status": "error"})

    script = Script(check, check, check)
    client = client_for(script, access_token_ref="env:HUBSPOT_TOKEN", resolver=resolver)
    assert client.call("GET", "/crm/v3/objects/companies/1", "companies.read")["id"] == "1"
    assert client.call("GET", "/crm/v3/objects/companies/1", "companies.read")["id"] == "1"
    assert resolved == ["pat-na1-stale", TOKEN] and len(script.requests) == 3


def test_referenced_token_still_refused_after_rereading_is_an_auth_error(client_for: Clients) -> None:
    script = Script(answer(401, {"status": "error"}), answer(401, {"status": "error"}))
    rotations = iter(["pat-na1-old", "pat-na1-new"])
    client = client_for(script, access_token_ref="env:X", resolver=lambda _: next(rotations))
    with pytest.raises(AuthError) as caught:
        client.call("GET", "/crm/v3/objects/companies/1", "companies.read")
    assert len(script.requests) == 2 and "pat-na1" not in str(caught.value)


def test_config_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotConfig()
    with pytest.raises(ValueError, match="exactly one"):
        HubSpotConfig(access_token=SecretStr(TOKEN), access_token_ref="env:X")


def test_limit_headers_tune_a_bucket_that_stays_inside_the_rolling_window(client_for: Clients) -> None:
    clock = SteppingClock()
    client = client_for(Script(answer(200, {"id": "1"}, {"X-HubSpot-RateLimit-Max": "110",
                                                       "X-HubSpot-RateLimit-Remaining": "110"})), clock=clock)
    client.call("GET", "/crm/v3/objects/companies/1", "companies.read")
    room = client.governor.headroom(client.key)
    assert room.daily_remaining == 600_000 and room.daily_limit == 625_000
    # HubSpot counts any 10 s: a bucket refilled at the full rate would pass twice the limit after a burst.
    started, admitted = clock.time(), 0
    while True:
        client.governor.acquire(client.key)
        if clock.time() - started >= 10:
            break
        admitted += 1
    assert 95 <= admitted <= 110 * 0.95


def test_hubspot_remaining_counter_caps_the_bucket(client_for: Clients) -> None:
    clock = SteppingClock()
    client = client_for(Script(answer(200, {"id": "1"}, {"X-HubSpot-RateLimit-Remaining": "0"})), clock=clock)
    client.call("GET", "/crm/v3/objects/companies/1", "companies.read")
    client.governor.acquire(client.key)  # another client spent the window: we wait for a token to refill
    assert clock.sleeps and clock.sleeps[0] > 0


def test_declared_bucket_before_any_response_stays_inside_the_window() -> None:
    config = HubSpotConfig(access_token=SecretStr(TOKEN))
    limit = governed_limit(config)
    per_window = limit.requests + limit.requests / limit.per_seconds * config.burst_window_s
    assert per_window <= 190 * 0.95 + 1e-9 and limit.requests >= 1


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "hubspot-token"
    secret.write_text(f"{TOKEN}\n", encoding="utf-8")
    assert resolve_secret(f"file:{secret}") == TOKEN
    monkeypatch.setenv("CONCORD_TEST_HUBSPOT_TOKEN", TOKEN)
    assert resolve_secret("env:CONCORD_TEST_HUBSPOT_TOKEN") == TOKEN
    monkeypatch.delenv("CONCORD_TEST_HUBSPOT_TOKEN")
    with pytest.raises(AuthError, match="not set"):
        resolve_secret("env:CONCORD_TEST_HUBSPOT_TOKEN")
    with pytest.raises(AuthError, match="needs a resolver"):
        resolve_secret("vault:secret/hubspot")
