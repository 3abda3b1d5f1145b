from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from concord.connectors.runtime.redact import (
    MASK,
    is_sensitive_name,
    redact,
    redact_body,
    redact_headers,
    redact_text,
    redact_url,
)


def test_headers_by_name() -> None:
    headers = {
        "Authorization": "Bearer 00Dxx0000001gPL!AR8AQJXg5oj8",
        "X-Api-Key": "k-123",
        "Cookie": "sid=abc",
        "Stripe-Signature": "t=1,v1=deadbeef",
        "Content-Type": "application/json",
        "X-Correlation-ID": "c0ffee",
    }
    assert redact_headers(headers) == {
        "Authorization": MASK,
        "X-Api-Key": MASK,
        "Cookie": MASK,
        "Stripe-Signature": MASK,
        "Content-Type": "application/json",
        "X-Correlation-ID": "c0ffee",
    }


def test_url_query_and_userinfo() -> None:
    url = "https://admin:hunter2@erp.example.com/api/party?hapikey=abc123&limit=10&access_token=tok&email=a@b.c"
    safe = redact_url(url)
    for secret in ("hunter2", "abc123", "=tok"):
        assert secret not in safe
    assert "limit=10" in safe
    assert "admin:***@erp.example.com" in safe
    assert "email=a%40b.c" in safe


def test_json_body_nested() -> None:
    body = {
        "grant_type": "refresh_token",
        "client_id": "3MVG9",
        "client_secret": "s3cr3t",
        "refresh_token": "5Aep861",
        "user": {"email": "ada@example.com", "password": "pw", "api_key": None},
        "items": [{"access_token": "at-1", "name": "Ada"}],
        "idempotency_key": "order-42",
    }
    safe = json.loads(redact_body(json.dumps(body).encode(), "application/json"))
    assert safe["client_secret"] == MASK
    assert safe["refresh_token"] == MASK
    assert safe["user"] == {"email": "ada@example.com", "password": MASK, "api_key": None}
    assert safe["items"] == [{"access_token": MASK, "name": "Ada"}]
    assert safe["client_id"] == "3MVG9"
    assert safe["idempotency_key"] == "order-42"
    assert safe["grant_type"] == "refresh_token"


def test_form_body() -> None:
    form = b"grant_type=password&username=ada%40example.com&password=pw%21&client_secret=xyz"
    safe = redact_body(form, "application/x-www-form-urlencoded")
    assert "pw" not in safe.replace("password", "")
    assert "xyz" not in safe
    assert "username=ada%40example.com" in safe


def test_free_text_token_shapes() -> None:
    text = (
        "calling with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl "
        "stripe key sk_test_51HxYzAbCdEfGh and webhook secret whsec_abcdefgh12345678 "
        "hubspot pat-na1-11111111-2222-3333-4444-555555555555 "
        "sf session 00D5g000004ABCD!AQ4AQFmbH3Ym.fakeToken "
        'payload {"password": "pw1", "name": "Ada"} and token=abcdef'
    )
    safe = redact_text(text)
    for secret in (
        "eyJhbGciOiJIUzI1NiJ9",
        "sk_test_51HxYzAbCdEfGh",
        "whsec_abcdefgh12345678",
        "555555555555",
        "AQ4AQFmbH3Ym",
        "pw1",
        "abcdef",
    ):
        assert secret not in safe, secret
    assert '"name": "Ada"' in safe


def test_non_json_body_falls_back_to_text() -> None:
    assert redact_body(b"{not json password=pw}", "application/json") == "{not json password=***}"


def test_names() -> None:
    for name in ("Authorization", "x-hubspot-signature-v3", "client_secret", "apiKey", "SID", "refresh_token"):
        assert is_sensitive_name(name), name
    for name in ("email", "idempotency_key", "external_id", "content-type", "X-Correlation-ID"):
        assert not is_sensitive_name(name), name


@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=40),
    field=st.sampled_from(["password", "client_secret", "access_token", "apiKey", "Authorization"]),
)
def test_secret_under_a_sensitive_name_never_survives(secret: str, field: str) -> None:
    payload = {"outer": {field: secret, "note": "keep me"}}
    assert secret not in json.dumps(redact(payload))
    assert redact(payload)["outer"] == {field: MASK, "note": "keep me"}
