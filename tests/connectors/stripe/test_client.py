"""The Stripe client on its own: form encoding, headers, error mapping, retries with one key, key refresh."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.stripe import API_VERSION, StripeClient, StripeConfig, encode_form
from concord.connectors.stripe.client import FormValue, path_template, search_query
from tests.connectors.stripe.support import API_KEY, config_for

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **overrides: object) -> StripeClient:
    config = config_for("https://api.stripe.test", **overrides)
    return StripeClient(config, transport=httpx.MockTransport(handler), clock=ManualClock())


def _error(status: int, headers: dict[str, str] | None = None, **error: object) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": "boom", **error}}, headers=headers)


# -- encoding -------------------------------------------------------------------------------------------------


def test_form_encoding_uses_bracket_notation() -> None:
    params: dict[str, FormValue] = {
        "name": "Acme",
        "metadata": {"concord_id": "42", "old": None},
        "items": [{"price": "price_A", "quantity": 2}, {"id": "si_B", "deleted": True}],
        "expand": ["latest_invoice"],
        "preferred_locales": [],
        "address": {},
        "balance": -150,
    }
    assert encode_form(params) == [
        ("name", "Acme"),
        ("metadata[concord_id]", "42"),
        ("metadata[old]", ""),
        ("items[0][price]", "price_A"),
        ("items[0][quantity]", "2"),
        ("items[1][id]", "si_B"),
        ("items[1][deleted]", "true"),
        ("expand[0]", "latest_invoice"),
        ("preferred_locales", ""),
        ("balance", "-150"),
    ]


def test_search_query_quotes_and_escapes() -> None:
    assert search_query({"email": "o'neil@x.io", "metadata.concord_id": "a\\b", "created": 1700000000}) == (
        "email:'o\\'neil@x.io' AND metadata['concord_id']:'a\\\\b' AND created:1700000000"
    )
    with pytest.raises(DataRejected) as refused:
        search_query({"email": None})
    assert refused.value.field == "email"


def test_path_templates_hide_ids_only() -> None:
    assert path_template("/v1/customers/cus_NffrFeUfNV2Hib") == "/v1/customers/{id}"
    assert path_template("/v1/webhook_endpoints/we_1Mr5jULkdIwHu7ix") == "/v1/webhook_endpoints/{id}"
    assert path_template("/v1/customers/search") == "/v1/customers/search"


# -- headers --------------------------------------------------------------------------------------------------


def test_every_call_is_authorised_and_versioned_and_every_post_has_a_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "cus_Abc123", "object": "customer"})

    client = _client(handler)
    client.get("/v1/customers/cus_Abc123", {"expand": ["default_source"]})
    client.post("/v1/customers", {"metadata": {"k": "v"}}, idempotency_key="create-1")
    get, post = seen
    for request in seen:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.headers["Stripe-Version"] == API_VERSION
        assert request.headers["X-Correlation-ID"]
    assert "Idempotency-Key" not in get.headers and get.url.params["expand[0]"] == "default_source"
    assert post.headers["Idempotency-Key"] == "create-1"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.content == b"metadata%5Bk%5D=v"
    with pytest.raises(DataRejected):
        client.post("/v1/customers", {}, idempotency_key="")
    for bad_key in ("k" * 256, "schlüssel", "line\nbreak"):
        with pytest.raises(DataRejected):
            client.post("/v1/customers", {}, idempotency_key=bad_key)


# -- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected", "field", "code"),
    [
        (_error(400, type="invalid_request_error", code="email_invalid", param="email"), DataRejected, "email",
         "email_invalid"),
        (_error(400, type="invalid_request_error"), DataRejected, None, "invalid_request_error"),
        (_error(402, type="card_error", code="card_declined", decline_code="insufficient_funds"), DataRejected, None,
         "insufficient_funds"),
        (_error(400, type="idempotency_error"), Conflict, None, None),
        (_error(404, type="invalid_request_error", code="resource_missing", param="id"), NotFound, None, None),
        (_error(401, type="invalid_request_error"), AuthError, None, None),
        (_error(403, type="invalid_request_error"), AuthError, None, None),
    ],
)
def test_stripe_errors_map_to_typed_errors(
    response: httpx.Response, expected: type[ConnectorError], field: str | None, code: str | None
) -> None:
    client = _client(lambda request: response)
    with pytest.raises(expected) as raised:
        client.post("/v1/customers", {"email": "nope"}, idempotency_key="k-1")
    assert raised.value.system == "stripe" and "boom" in raised.value.message
    assert not raised.value.retryable
    if isinstance(raised.value, DataRejected):
        assert (raised.value.field, raised.value.code) == (field, code)


@pytest.mark.parametrize(
    ("response", "method", "expected"),
    [
        (_error(429, {"Retry-After": "2"}, type="invalid_request_error", code="rate_limit"), "GET", RateLimited),
        (_error(400, type="invalid_request_error", code="rate_limit"), "GET", RateLimited),
        (_error(409, type="invalid_request_error", code="idempotency_key_in_use"), "POST", RetryableError),
        (_error(500, type="api_error"), "POST", RetryableError),
        (httpx.Response(502, text="<html>bad gateway</html>"), "POST", AmbiguousWrite),
        (httpx.Response(503, json={"message": "injected"}), "GET", RetryableError),
    ],
)
def test_transient_failures_are_retryable(response: httpx.Response, method: str, expected: type[Exception]) -> None:
    client = _client(lambda request: response, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(expected) as raised:
        client.call(method, "/v1/customers", {}, "k-1" if method == "POST" else None)
    assert type(raised.value) is expected and raised.value.retryable  # type: ignore[attr-defined]


def test_a_saved_server_error_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _error(500, {"Stripe-Should-Retry": "false"}, type="api_error")

    with pytest.raises(ConnectorError) as raised:
        _client(handler).post("/v1/customers", {}, idempotency_key="k-1")
    assert not raised.value.retryable and len(calls) == 1


def test_lost_answers_are_retried_with_the_same_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if len(keys) == 2:
            return _error(503, type="api_error")
        return httpx.Response(200, json={"id": "cus_1"}, headers={"Idempotent-Replayed": "true"})

    response = _client(handler).post("/v1/customers", {"name": "A"}, idempotency_key="stable")
    assert keys == ["stable"] * 3
    assert response.replayed and response.after_doubt  # a replay of our own lost attempt


def test_rate_limit_waits_at_least_retry_after() -> None:
    clock = ManualClock()
    answers = iter([_error(429, {"Retry-After": "3"}, type="invalid_request_error", code="rate_limit"),
                    httpx.Response(200, json={"object": "list", "data": [], "has_more": False})])
    config = config_for("https://api.stripe.test")
    client = StripeClient(config, transport=httpx.MockTransport(lambda request: next(answers)), clock=clock)
    assert client.get("/v1/customers") == {"object": "list", "data": [], "has_more": False}
    assert max(clock.sleeps) >= 3.0


# -- auth -----------------------------------------------------------------------------------------------------


def test_a_rotated_key_is_picked_up_after_a_401() -> None:
    keys = iter(["sk_test_oldKey0000000000000000", "sk_test_newKey1111111111111111"])
    used: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        used.append(request.headers["Authorization"])
        if request.headers["Authorization"].endswith("oldKey0000000000000000"):
            return _error(401, type="invalid_request_error")
        return httpx.Response(200, json={"id": "cus_1"})

    config = StripeConfig(base_url="https://api.stripe.test", api_key_ref="vault:stripe/key")
    client = StripeClient(config, resolver=lambda ref: next(keys), transport=httpx.MockTransport(handler),
                          clock=ManualClock())
    assert client.get("/v1/customers/cus_1") == {"id": "cus_1"}
    assert used == ["Bearer sk_test_oldKey0000000000000000", "Bearer sk_test_newKey1111111111111111"]
    assert client.auth.resolutions == 2


def test_a_fixed_key_refused_is_an_auth_error_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        # Worst case: a server (or a proxy) that echoes the presented key in its error message.
        return _error(401, type="invalid_request_error", message=f"Invalid API Key provided: {API_KEY}")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as raised:
        _client(handler).get("/v1/customers")
    assert len(calls) == 1
    assert API_KEY not in str(raised.value) and API_KEY not in caplog.text
    assert "Invalid API Key provided: ***" in str(raised.value)
    assert API_KEY not in repr(config_for("https://api.stripe.test"))


def test_env_key_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_TEST_STRIPE_KEY", API_KEY)
    config = StripeConfig(api_key_ref="env:CONCORD_TEST_STRIPE_KEY")
    assert StripeClient(config).auth.headers()["Authorization"] == f"Bearer {API_KEY}"
    missing = StripeClient(StripeConfig(api_key_ref="env:CONCORD_TEST_NO_SUCH_VAR"))
    with pytest.raises(AuthError):
        missing.auth.key()


def test_config_refuses_publishable_keys_and_derives_limits() -> None:
    with pytest.raises(ValidationError) as refused:
        StripeConfig(api_key="pk_test_abcdefghijklmnop")
    assert "pk_test_abcdefghijklmnop" not in str(refused.value)
    with pytest.raises(ValidationError):
        StripeConfig(api_key=API_KEY, api_key_ref="env:X")
    assert StripeConfig(api_key=API_KEY).effective_rate_limit().requests == 25
    assert StripeConfig(api_key="sk_live_abcdefghijklmnop").effective_rate_limit().requests == 100
