from __future__ import annotations

import logging

import httpx
import pytest
import respx

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    RateLimit,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import (
    CORRELATION_HEADER,
    HttpSettings,
    InMemoryCallRecorder,
    build_http_client,
    correlation_scope,
)

SECRET = "pat-na1-11111111-2222-3333-4444-555555555555"


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"cid": request.headers.get(CORRELATION_HEADER)})


def client(recorder: InMemoryCallRecorder, handler: httpx.MockTransport | None = None) -> httpx.Client:
    return build_http_client(
        "hubspot",
        "https://api.hubapi.test",
        recorder,
        headers={"Authorization": f"Bearer {SECRET}"},
        inner=handler or httpx.MockTransport(echo),
    )


def test_every_request_gets_a_correlation_id_and_a_sample() -> None:
    recorder = InMemoryCallRecorder()
    with client(recorder) as http:
        first = http.get("/crm/v3/objects/contacts/12345").json()["cid"]
        second = http.get("/crm/v3/objects/contacts/67890").json()["cid"]
    assert first and second and first != second
    samples = recorder.samples
    assert [s.operation for s in samples] == ["GET /crm/v3/objects/contacts/{id}"] * 2
    assert [s.outcome for s in samples] == ["ok", "ok"]
    assert all(s.latency_s >= 0 for s in samples)
    assert recorder.counts() == {("hubspot", "GET /crm/v3/objects/contacts/{id}", "ok"): 2}


def test_correlation_scope_and_named_operation() -> None:
    recorder = InMemoryCallRecorder()
    with client(recorder) as http, correlation_scope("run-42"):
        cid = http.post("/crm/v3/objects/contacts", extensions={"concord_operation": "contact.create"}).json()
    assert cid == {"cid": "run-42"}
    assert recorder.samples[0].operation == "contact.create"
    assert recorder.samples[0].correlation_id == "run-42"


def test_a_caller_supplied_correlation_id_is_kept() -> None:
    recorder = InMemoryCallRecorder()
    with client(recorder) as http:
        cid = http.get("/x", headers={CORRELATION_HEADER: "given"}).json()["cid"]
    assert cid == "given"


def test_outcomes_and_transport_failures_are_recorded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(int(request.url.path.strip("/")))

    recorder = InMemoryCallRecorder()
    with client(recorder, httpx.MockTransport(handler)) as http:
        for status in (200, 404, 429, 503):
            http.get(f"/{status}")
        with pytest.raises(httpx.ReadTimeout):
            http.get("/slow")
    assert [(s.status, s.outcome) for s in recorder.samples] == [
        (200, "ok"),
        (404, "client_error"),
        (429, "rate_limited"),
        (503, "server_error"),
        (None, "timeout"),
    ]


def test_logs_never_carry_secrets(caplog: pytest.LogCaptureFixture) -> None:
    recorder = InMemoryCallRecorder()
    caplog.set_level(logging.DEBUG, logger="concord.connectors.http")
    with client(recorder) as http:
        http.get("/contacts", params={"hapikey": "key-in-url-123", "limit": "5"})
    assert caplog.records, "expected a debug line per call"
    text = caplog.text
    assert SECRET not in text
    assert "key-in-url-123" not in text
    assert "limit=5" in text


def test_response_headers_feed_the_governor() -> None:
    clock = ManualClock()
    governor = RateGovernor({"hubspot": RateLimit(requests=100, per_seconds=10)}, clock=clock)
    key = RateKey("acme", "hubspot", "app-1")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"X-HubSpot-RateLimit-Daily-Remaining": "41"})

    def observe(response: httpx.Response) -> None:
        governor.observe(key, response.headers)

    recorder = InMemoryCallRecorder()
    http = build_http_client(
        "hubspot",
        "https://api.hubapi.test",
        recorder,
        on_response=observe,
        inner=httpx.MockTransport(handler),
    )
    with http:
        http.get("/crm/v3/objects/contacts")
    assert governor.headroom(key).daily_remaining == 41


def test_timeouts_come_from_settings() -> None:
    http = build_http_client("zendesk", "https://x.test", InMemoryCallRecorder(), HttpSettings(read_timeout_s=2.5))
    with http:
        assert http.timeout.read == 2.5
        assert http.timeout.connect == 5.0


@respx.mock
def test_works_over_the_real_transport_with_respx() -> None:
    route = respx.get("https://api.hubapi.test/crm/v3/owners").mock(return_value=httpx.Response(200, json=[]))
    recorder = InMemoryCallRecorder()
    with build_http_client("hubspot", "https://api.hubapi.test", recorder) as http:
        assert http.get("/crm/v3/owners").json() == []
    assert route.called
    assert CORRELATION_HEADER in route.calls.last.request.headers
    assert recorder.samples[0].status == 200


def _response(status: int, method: str = "GET", headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request(method, "https://api.test/things?api_key=sekrit")
    return httpx.Response(status, headers=headers, json={"password": "pw", "message": "nope"}, request=request)


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (429, "GET", RateLimited),
        (500, "POST", RetryableError),
        (502, "POST", AmbiguousWrite),
        (504, "PATCH", AmbiguousWrite),
        (502, "GET", RetryableError),
        (401, "GET", AuthError),
        (404, "GET", NotFound),
        (409, "POST", Conflict),
        (400, "POST", DataRejected),
        (422, "POST", DataRejected),
    ],
)
def test_error_for_response(status: int, method: str, expected: type[ConnectorError]) -> None:
    error = error_for_response("acme", _response(status, method, {"Retry-After": "3"}))
    assert type(error) is expected
    assert "sekrit" not in str(error)
    assert '"pw"' not in str(error)
    if isinstance(error, RetryableError):
        assert error.retry_after == 3.0


def test_success_is_not_an_error() -> None:
    assert error_for_response("acme", _response(201, "POST")) is None


def test_error_for_transport() -> None:
    post = httpx.Request("POST", "https://api.test/things")
    get = httpx.Request("GET", "https://api.test/things")
    assert type(error_for_transport("acme", post, httpx.ConnectError("refused"))) is RetryableError
    assert type(error_for_transport("acme", post, httpx.ConnectTimeout("slow"))) is RetryableError
    assert type(error_for_transport("acme", post, httpx.ReadTimeout("slow"))) is AmbiguousWrite
    assert type(error_for_transport("acme", post, httpx.RemoteProtocolError("eof"))) is AmbiguousWrite
    assert type(error_for_transport("acme", get, httpx.ReadTimeout("slow"))) is RetryableError
