"""TrytonClient wire behaviour against scripted answers: encoding, session handling, error classification.

The answers reproduce what trytond 8.2 sends (see the client module docstring); behaviour that needs the real
server (the actual UserError texts, a real 401) is covered again in test_resources against trytond itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    DataRejected,
    RateLimited,
    RetryableError,
)
from concord.connectors.tryton import TrytonClient, TrytonConfig, TrytonConfigError, TrytonWarning
from concord.connectors.tryton.client import decode_object, encode_value

URL = "http://tryton.test"
PREFS = {"company": 1, "companies": [1, 2], "language": "en", "employee": 1}
Reply = Callable[[dict[str, Any], httpx.Request], httpx.Response]


def config(**overrides: Any) -> TrytonConfig:
    values: dict[str, Any] = {"url": URL, "database": "erp", "password": "s3cret-pass", "company_id": 7}
    values.update(overrides)
    return TrytonConfig.model_validate(values)


def ok(result: Any) -> httpx.Response:
    return httpx.Response(200, content=json.dumps({"id": 1, "result": result}, default=encode_value))


def error(payload: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": 1, "error": payload})


class FakeTryton:
    """Answers login and preferences like trytond; `model_reply` answers every model call."""

    def __init__(self, model_reply: Reply) -> None:
        self.model_reply = model_reply
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str | None] = []
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(request.headers.get("authorization"))
        assert request.url.path == "/erp/rpc/"
        if body["method"] == "common.db.login":
            self.logins += 1
            return ok([42, f"token-{self.logins}", None])
        if body["method"] == "model.res.user.get_preferences":
            return ok(PREFS)
        return self.model_reply(body, request)

    def client(self, **overrides: Any) -> TrytonClient:
        return TrytonClient(config(**overrides), http=httpx.Client(transport=httpx.MockTransport(self)))


def test_values_round_trip_through_trytons_class_objects() -> None:
    values = [
        Decimal("12.50"),
        dt.date(2026, 1, 31),
        dt.datetime(2026, 1, 31, 8, 9, 10, 11),
        dt.time(7, 8, 9),
        dt.timedelta(seconds=90),
        b"\x00\x01",
    ]
    wire = json.dumps(values, default=encode_value)
    assert '{"__class__": "Decimal", "decimal": "12.50"}' in wire
    assert json.loads(wire, object_hook=decode_object) == values


def test_login_header_and_context_with_company_on_every_call() -> None:
    fake = FakeTryton(lambda body, _: ok([3, 4]))
    client = fake.client()
    assert client.search("party.party", [("code", "=", "C1")], limit=5) == [3, 4]
    login, prefs, search = fake.requests
    assert login["params"] == ["admin", {"password": "s3cret-pass"}, "en"]
    assert prefs["params"] == [True, {}]
    assert search["method"] == "model.party.party.search"
    assert search["params"][:4] == [[["code", "=", "C1"]], 0, 5, None]
    assert search["params"][-1] == {**PREFS, "company": 7}
    assert fake.headers[-1] == "Session " + base64.b64encode(b"admin:42:token-1").decode()
    client.search("party.party", [], context={"company": 2})
    assert fake.requests[-1]["params"][-1]["company"] == 2  # an explicit company beats the configured one


def test_password_reference_is_resolved_at_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRYTON_TEST_PASSWORD", "from-the-env")
    fake = FakeTryton(lambda body, _: ok([]))
    fake.client(password=None, password_ref="env:TRYTON_TEST_PASSWORD").search("party.party", [])
    assert fake.requests[0]["params"][1] == {"password": "from-the-env"}


def test_config_needs_exactly_one_credential() -> None:
    with pytest.raises(ValidationError):
        config(password=None)
    with pytest.raises(ValidationError):
        config(password_ref="env:X")


def test_a_401_logs_in_again_once_and_repeats_the_call() -> None:
    answers = iter([httpx.Response(401), ok([9])])
    fake = FakeTryton(lambda body, _: next(answers))
    client = fake.client()
    assert client.create("party.party", [{"name": "A", "code": "C1"}]) == [9]
    assert fake.logins == 2
    assert fake.headers[-1] == "Session " + base64.b64encode(b"admin:42:token-2").decode()


def test_a_second_401_is_an_auth_error() -> None:
    fake = FakeTryton(lambda body, _: httpx.Response(401))
    with pytest.raises(AuthError):
        fake.client().search("party.party", [])
    assert fake.logins == 2


def test_user_error_with_domain_names_the_technical_field() -> None:
    domain = [[["code", "!=", None]], {"country": {"string": "Country", "type": "many2one"}}]
    fake = FakeTryton(lambda body, _: error(["UserError", ["The value is not valid.", "", domain]]))
    with pytest.raises(DataRejected) as caught:
        fake.client().write("party.address", [1], {"country": 99})
    assert caught.value.field == "country"
    assert caught.value.code == "UserError"
    assert "The value is not valid." in caught.value.message


def test_user_error_without_domain_names_the_labelled_field() -> None:
    message = 'A value is required for field "Name" in "Party".'
    fake = FakeTryton(lambda body, _: error(["UserError", [message, "", None]]))
    with pytest.raises(DataRejected) as caught:
        fake.client().create("party.party", [{}])
    assert caught.value.field == "Name"


def test_user_warning_is_typed_and_acknowledged_as_a_user_warning_record() -> None:
    calls = iter([error(["UserWarning", ["abc.post", "The date is in the past.", ""]]), ok([5]), ok(None)])
    fake = FakeTryton(lambda body, _: next(calls))
    client = fake.client()
    with pytest.raises(TrytonWarning) as caught:
        client.button("account.invoice", "post", [1])
    assert caught.value.name == "abc.post"
    client.acknowledge_warning(caught.value)
    ack = fake.requests[-1]
    assert ack["method"] == "model.res.user.warning.create"
    assert ack["params"][0] == [{"user": 42, "name": "abc.post", "always": False}]
    assert client.button("account.invoice", "post", [1]) is None


@pytest.mark.parametrize(
    ("reply", "expected", "code"),
    [
        (lambda: error(["'bogus'", ""]), DataRejected, "unknown_field"),
        (lambda: error(["ConcurrencyException", "Record modified"]), Conflict, None),
        (lambda: error(["database is locked", ""]), RetryableError, None),
        (lambda: error(["ZeroDivisionError: division by zero", ""]), DataRejected, "server_exception"),
        (lambda: httpx.Response(403, text="<h1>Forbidden</h1>"), TrytonConfigError, None),
        (lambda: httpx.Response(422, text="<p>Missing context argument</p>"), TrytonConfigError, None),
        (lambda: httpx.Response(429), RateLimited, None),
        (lambda: httpx.Response(500), RetryableError, None),
        (lambda: httpx.Response(400, text="bad"), DataRejected, "400"),
    ],
)
def test_error_classification(reply: Callable[[], httpx.Response], expected: type[Exception], code: str | None) -> None:
    fake = FakeTryton(lambda body, _: reply())
    with pytest.raises(expected) as caught:
        fake.client().search("party.party", [])
    assert type(caught.value) is expected
    if code is not None:
        assert isinstance(caught.value, DataRejected)
        assert caught.value.code == code


def _raise(exc: Exception) -> Reply:
    def reply(body: dict[str, Any], request: httpx.Request) -> httpx.Response:
        raise exc

    return reply


def test_lost_response_after_a_write_is_ambiguous_but_a_lost_read_is_retryable() -> None:
    lost = FakeTryton(_raise(httpx.ReadTimeout("timed out")))
    with pytest.raises(AmbiguousWrite):
        lost.client().create("party.party", [{"name": "A"}])
    with pytest.raises(RetryableError) as caught:
        lost.client().search("party.party", [])
    assert not isinstance(caught.value, AmbiguousWrite)


def test_unsent_write_is_plainly_retryable() -> None:
    refused = FakeTryton(_raise(httpx.ConnectError("refused")))
    with pytest.raises(RetryableError) as caught:
        refused.client().create("party.party", [{"name": "A"}])
    assert not isinstance(caught.value, AmbiguousWrite)


def test_gateway_timeout_on_a_write_is_ambiguous() -> None:
    fake = FakeTryton(lambda body, _: httpx.Response(504))
    with pytest.raises(AmbiguousWrite):
        fake.client().write("party.party", [1], {"name": "B"})
