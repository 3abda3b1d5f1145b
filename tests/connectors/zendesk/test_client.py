"""Zendesk error mapping, authentication and rate-limit handling, against scripted HTTP answers."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from concord.connectors.base import AmbiguousWrite, AuthError, DataRejected, NotFound, RateLimited, RetryableError
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.zendesk import TooRecentStartTime, ZendeskConfig, ZendeskConnector
from concord.connectors.zendesk.client import zendesk_error
from tests.connectors.zendesk.support import API_TOKEN, EMAIL, StepClock, token_config

Handler = Callable[[httpx.Request], httpx.Response]
ORG = {"id": 42, "name": "Acme", "external_id": "acme", "updated_at": "2024-01-02T03:04:05Z"}


def scripted(*answers: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering in order (the last answer repeats) and the requests it saw."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    return handle, seen


def connector(handler: Handler, clock: StepClock | None = None, **overrides: object) -> ZendeskConnector:
    config = token_config("https://acme.zendesk.test", **overrides)
    return ZendeskConnector(config, clock=clock or StepClock(), transport=httpx.MockTransport(handler))


def error_of(status: int, body: object, method: str = "GET", headers: dict[str, str] | None = None) -> object:
    request = httpx.Request(method, "https://acme.zendesk.test/api/v2/organizations/1")
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return zendesk_error(httpx.Response(status, content=content, headers=headers, request=request))


# ---- error mapping ----------------------------------------------------------------------------------------


def test_record_invalid_names_the_first_detail_key_and_keeps_the_message() -> None:
    details = {
        "name": [{"description": "Name: cannot be blank", "error": "BlankValue"}],
        "external_id": [{"description": "External ID: x has already been taken", "error": "DuplicateValue"}],
    }
    error = error_of(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})
    assert isinstance(error, DataRejected)
    assert (error.system, error.field, error.code) == ("zendesk", "name", "BlankValue")
    assert error.message == "Name: cannot be blank; External ID: x has already been taken"


def test_not_found_invalid_value_and_too_recent_start_time() -> None:
    assert isinstance(error_of(404, {"error": "RecordNotFound", "description": "Not found"}), NotFound)
    bad = error_of(400, {"error": "InvalidPaginationParameter", "description": "page[size] must be at most 100"})
    assert isinstance(bad, DataRejected) and not isinstance(bad, TooRecentStartTime)
    assert (bad.code, bad.field) == ("InvalidPaginationParameter", None)
    too_recent = "Too recent start_time. Use a start_time older than 1 minute"
    recent = error_of(422, {"error": "InvalidValue", "description": too_recent})
    assert isinstance(recent, TooRecentStartTime) and recent.code == "InvalidValue"


def test_rate_limit_server_errors_and_lost_writes_are_retryable() -> None:
    limited = error_of(429, "Number of allowed API requests per minute exceeded", headers={"Retry-After": "17"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 17.0
    assert type(error_of(503, {"error": "Unavailable"})) is RetryableError
    assert isinstance(error_of(502, "Bad Gateway", method="POST"), AmbiguousWrite)
    assert isinstance(error_of(401, {"error": "Couldn't authenticate you"}), AuthError)
    assert error_of(200, {"organization": ORG}) is None


def test_read_of_a_missing_record_is_none_and_update_of_one_raises() -> None:
    handler, seen = scripted(httpx.Response(404, json={"error": "RecordNotFound", "description": "Not found"}))
    conn = connector(handler)
    assert conn.read("organizations", "7") is None
    with pytest.raises(NotFound):
        conn.update("organizations", "7", {"notes": "x"})
    assert [r.url.path for r in seen] == ["/api/v2/organizations/7", "/api/v2/organizations/7"]


def test_a_429_pauses_the_governor_for_retry_after_and_is_retried_once() -> None:
    handler, seen = scripted(
        httpx.Response(429, text="Number of allowed API requests per minute exceeded", headers={"Retry-After": "7"}),
        httpx.Response(200, json={"organization": ORG}),
    )
    clock = StepClock()
    conn = connector(handler, clock=clock)
    record = conn.read("organizations", "42")
    assert record is not None and record.fields["name"] == "Acme"
    assert len(seen) == 2  # one retry, not a tight loop
    waited = sum(clock.sleeps)
    assert 7.0 <= waited < 8.0  # Retry-After honoured once (governor pause and retry delay overlap)


def test_retries_give_up_after_the_policy_and_surface_the_error() -> None:
    handler, seen = scripted(httpx.Response(503, json={"error": "ServiceUnavailable"}))
    conn = connector(handler, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    with pytest.raises(RetryableError):
        conn.read("organizations", "42")
    assert len(seen) == 3


def test_a_lost_create_or_update_answer_is_retried_because_it_is_keyed_by_external_id() -> None:
    lost, answered = httpx.Response(504, text="Gateway Timeout"), httpx.Response(200, json={"organization": ORG})
    handler, seen = scripted(lost, answered)
    record = connector(handler).create("organizations", {"name": "Acme"}, idempotency_key="acme")
    assert record.id == "42"
    bodies = [json.loads(r.content) for r in seen]
    assert [r.url.path for r in seen] == ["/api/v2/organizations/create_or_update"] * 2
    assert bodies == [{"organization": {"name": "Acme", "external_id": "acme"}}] * 2


def test_rate_limit_headers_at_zero_pause_the_key_until_reset() -> None:
    headers = {"X-Rate-Limit": "200", "X-Rate-Limit-Remaining": "0", "ratelimit-reset": "30"}
    handler, _ = scripted(httpx.Response(200, json={"organization": ORG}, headers=headers))
    conn = connector(handler)
    conn.read("organizations", "42")
    headroom = conn.client.governor.headroom(conn.client.key)
    assert headroom.tokens == 0 and 29.0 <= headroom.paused_for_s <= 30.0


def test_incremental_exports_spend_their_own_ten_per_minute_bucket() -> None:
    page = {"organizations": [], "end_time": 100, "end_of_stream": True, "count": 0}
    handler, seen = scripted(httpx.Response(200, json=page))
    clock = StepClock()
    conn = connector(handler, clock=clock)
    for _ in range(11):
        conn.changes_since("organizations", "100")
    assert len(seen) == 11
    assert 5.5 <= sum(clock.sleeps) <= 6.5  # the 11th call waited for one token of 10 per 60 s


# ---- authentication ---------------------------------------------------------------------------------------


def test_api_token_is_sent_as_email_slash_token_basic_auth() -> None:
    handler, seen = scripted(httpx.Response(200, json={"organization": ORG}))
    connector(handler).read("organizations", "42")
    scheme, _, encoded = seen[0].headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode() == f"{EMAIL}/token:{API_TOKEN}"
    assert seen[0].headers["x-correlation-id"]


def test_oauth_token_is_refreshed_once_after_a_401() -> None:
    handler, seen = scripted(
        httpx.Response(401, json={"error": "Couldn't authenticate you"}),
        httpx.Response(200, json={"organization": ORG}),
    )
    config = ZendeskConfig(base_url="https://acme.zendesk.test", oauth_token=SecretStr("expired-token"))
    conn = ZendeskConnector(config, refresher=lambda: "fresh-token", transport=httpx.MockTransport(handler))
    assert conn.read("organizations", "42") is not None
    assert [r.headers["authorization"] for r in seen] == ["Bearer expired-token", "Bearer fresh-token"]
    assert conn.client.auth.refreshes == 1


def test_a_refused_credential_raises_auth_error_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    handler, seen = scripted(httpx.Response(401, json={"error": "Couldn't authenticate you"}))
    caplog.set_level(logging.DEBUG)
    conn = connector(handler)
    with pytest.raises(AuthError) as caught:
        conn.read("organizations", "42")
    assert len(seen) == 1  # an API token cannot be refreshed: no second attempt
    encoded = base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
    for text in (str(caught.value), caplog.text, repr(conn.config), repr(conn.client.auth)):
        assert API_TOKEN not in text and encoded not in text


def test_config_needs_exactly_one_credential() -> None:
    with pytest.raises(ValidationError):
        ZendeskConfig(subdomain="acme", email=EMAIL)
    with pytest.raises(ValidationError):
        ZendeskConfig(subdomain="acme", api_token=SecretStr("t"))  # an API token needs the agent's email
    with pytest.raises(ValidationError):
        ZendeskConfig(subdomain="acme", email=EMAIL, api_token=SecretStr("t"), oauth_token=SecretStr("o"))
    with pytest.raises(ValidationError):
        ZendeskConfig(oauth_token=SecretStr("o"))  # no account to talk to
    assert ZendeskConfig(subdomain="acme", oauth_token=SecretStr("o")).api_url == "https://acme.zendesk.com"
