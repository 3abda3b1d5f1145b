"""Stripe's wire protocol over the resilience runtime: form bodies, idempotency keys, paging, typed errors.

Wire facts (Stripe API reference: "Authentication", "Errors", "Idempotent requests", "Pagination"):
- request bodies and query strings are form-encoded with bracket notation: `metadata[k]=v`,
  `items[0][price]=p`; an empty value unsets a field (`metadata[k]=` drops one key);
- every POST may carry `Idempotency-Key` (<= 255 chars); Stripe saves the first response once the endpoint
  began executing and replays it (header `Idempotent-Replayed: true`) for 24 hours; the same key with other
  parameters is a 400 `idempotency_error`, a key still in flight a 409;
- errors are `{"error": {"type", "code", "param", "message", ...}}`; the status picks the class first
  (401 auth, 402 card, 404 missing, 409 conflict, 429 rate limit, 5xx `api_error`); `Stripe-Should-Retry`
  overrides the status when present;
- lists are newest first, `{"object": "list", "data", "has_more"}`, paged with `starting_after` /
  `ending_before` object ids; search results page with an opaque `page` token (`next_page`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias
from urllib.parse import urlencode

import httpx

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
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport
from concord.connectors.runtime.governed import GovernedKey
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import CallRecorder, InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.redact import redact_text
from concord.connectors.runtime.retry import Retrier
from concord.connectors.stripe.auth import SecretResolver, StripeAuth
from concord.connectors.stripe.config import SYSTEM, StripeConfig

FormScalar: TypeAlias = str | int | float | bool | None
FormValue: TypeAlias = FormScalar | Sequence["FormValue"] | Mapping[str, "FormValue"]
StripeObject: TypeAlias = dict[str, Any]

MAX_IDEMPOTENCY_KEY = 255
# An id segment has a lowercase prefix and a body with digits or capitals (`cus_NffrFeUfNV2Hib`), which
# resource names such as `webhook_endpoints` never have.
_ID_SEGMENT = re.compile(r"^[a-z]+_(?=[A-Za-z0-9]*[0-9A-Z])[A-Za-z0-9]+$")
_OPERATION = "concord_operation"


def encode_form(params: Mapping[str, FormValue]) -> list[tuple[str, str]]:
    """Flatten nested params into Stripe's bracket notation, in the caller's order.

    None sends an empty value (Stripe's "unset"); an empty mapping sends nothing (no change); an empty
    list sends an empty value (clears a list such as `preferred_locales`). Lists are indexed (`[0]`),
    as the official libraries send them, so lists of hashes keep their grouping.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _encode_into(pairs, key, value)
    return pairs


def _encode_into(pairs: list[tuple[str, str]], name: str, value: FormValue) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _encode_into(pairs, f"{name}[{key}]", item)
    elif isinstance(value, list | tuple):
        if not value:
            pairs.append((name, ""))
        for index, item in enumerate(value):
            _encode_into(pairs, f"{name}[{index}]", item)
    elif value is None:
        pairs.append((name, ""))
    elif isinstance(value, bool):
        pairs.append((name, "true" if value else "false"))
    else:
        pairs.append((name, str(value)))


def search_query(criteria: Mapping[str, FormScalar]) -> str:
    """Criteria as Stripe Search Query Language: `email:'a@b.c' AND metadata['concord_id']:'42'`.

    `metadata.KEY` addresses one metadata key; strings are single-quoted with `\\` escapes, numbers bare.
    """
    if not criteria:
        raise DataRejected(SYSTEM, "a search needs at least one criterion", field="query")
    return " AND ".join(f"{_search_field(name)}:{_search_value(name, value)}" for name, value in criteria.items())


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _search_field(name: str) -> str:
    if name.startswith("metadata."):
        return f"metadata[{_quote(name.removeprefix('metadata.'))}]"
    return name


def _search_value(name: str, value: FormScalar) -> str:
    if value is None or isinstance(value, bool):
        raise DataRejected(SYSTEM, f"cannot search {name} for {value!r}", field=name)
    if isinstance(value, int | float):
        return str(value)
    return _quote(value)


def derive_key(purpose: str, obj: str, record_id: str, params: Mapping[str, FormValue], generation: int) -> str:
    """A deterministic Idempotency-Key for a write Concord makes without a caller key (max 255 chars)."""
    body = "&".join(f"{k}={v}" for k, v in encode_form(params))
    digest = hashlib.sha256(f"{purpose}|{obj}|{record_id}|{body}|{generation}".encode()).hexdigest()
    return f"concord-{purpose}-{digest[:48]}"


def flatten_criteria(criteria: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"metadata": {"k": v}}` becomes `metadata.k`; a top-level `concord_id` means `metadata.concord_id`."""
    flat: dict[str, Any] = {}
    for name, value in criteria.items():
        if isinstance(value, Mapping):
            flat.update(flatten_criteria(value, f"{prefix}{name}."))
        elif not prefix and name == "concord_id":
            flat["metadata.concord_id"] = value
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def path_template(path: str) -> str:
    """`/v1/customers/cus_X` → `/v1/customers/{id}`: one breaker and one metric series per endpoint."""
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


@dataclass(frozen=True)
class StripeResponse:
    body: StripeObject
    replayed: bool  # answered from Stripe's idempotency store, not executed now
    request_id: str | None
    # An earlier attempt of this call may have executed (lost response, 5xx): a replay is then our own.
    after_doubt: bool = False


def _error_detail(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) and "message" in error else None


def error_for_stripe(response: httpx.Response) -> ConnectorError:
    """The typed error for a non-2xx Stripe answer; non-Stripe bodies (a proxy, a gateway) use the shared rules."""
    detail = _error_detail(response)
    if detail is None:
        return error_for_response(SYSTEM, response) or RetryableError(SYSTEM, f"HTTP {response.status_code}")
    status, request = response.status_code, response.request
    kind, code, param = str(detail.get("type") or ""), detail.get("code"), detail.get("param")
    label = f"{kind}/{code}" if code else kind
    message = redact_text(f"{request.method} {path_template(request.url.path)} -> {status} {label}: "
                          f"{detail.get('message')}")
    advice = response.headers.get("Stripe-Should-Retry")
    if status == 429 or code == "rate_limit":
        return RateLimited(SYSTEM, message, retry_after=_retry_after(response))
    if kind == "idempotency_error":
        return Conflict(SYSTEM, message)
    if status == 401 or status == 403:
        return AuthError(SYSTEM, message)
    if advice == "true" or status == 409:
        # A key still in flight or a lock timeout: the same request (same key) will settle it.
        return RetryableError(SYSTEM, message, retry_after=_retry_after(response))
    if status >= 500 or kind == "api_error":
        return _server_error(response, message, advice)
    if status == 404:
        return NotFound(SYSTEM, message)
    field = str(param) if param else None
    return DataRejected(SYSTEM, message, field=field, code=str(detail.get("decline_code") or code or kind))


def _server_error(response: httpx.Response, message: str, advice: str | None) -> ConnectorError:
    if advice == "false":
        # Stripe saved this failure under the idempotency key: retrying the same key replays it forever.
        return ConnectorError(SYSTEM, message)
    if response.request.method == "POST" and response.status_code in (502, 504):
        return AmbiguousWrite(SYSTEM, message, retry_after=_retry_after(response))
    return RetryableError(SYSTEM, message, retry_after=_retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return None if raw is None else max(float(raw), 0.0)
    except ValueError:
        return None


def build_caller(config: StripeConfig, clock: Clock | None = None) -> ResilientCaller:
    """Governor → breaker → retry with the config's limits; the clock is injectable for tests."""
    clock = clock or SystemClock()
    governor = RateGovernor({SYSTEM: config.effective_rate_limit()}, clock=clock)
    return ResilientCaller(Retrier(config.retry, clock=clock), BreakerRegistry(config.breaker, clock), governor)


class StripeClient:
    """One Stripe account. Every call runs through the resilient caller; POSTs always carry a key."""

    def __init__(
        self,
        config: StripeConfig,
        *,
        resolver: SecretResolver | None = None,
        caller: ResilientCaller | None = None,
        recorder: CallRecorder | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.auth = StripeAuth(config, resolver)
        self.recorder = recorder or InMemoryCallRecorder()
        self._http = build_http_client(SYSTEM, config.base_url, self.recorder, config.http, inner=transport)
        self._caller = caller or build_caller(config, clock)
        # Stripe counts reads and writes against separate allowances, so they get separate buckets.
        self._keys = {
            "read": RateKey(config.tenant, SYSTEM, f"{config.credential_id}:read"),
            "write": RateKey(config.tenant, SYSTEM, f"{config.credential_id}:write"),
        }

    # -- verbs ---------------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, FormValue] | None = None) -> StripeObject:
        return self.call("GET", path, params).body

    def post(self, path: str, params: Mapping[str, FormValue], idempotency_key: str) -> StripeResponse:
        if not (0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY and idempotency_key.isascii()
                and idempotency_key.isprintable()):
            raise DataRejected(SYSTEM, "idempotency keys are 1 to 255 printable ASCII characters",
                               field="idempotency_key")
        return self.call("POST", path, params, idempotency_key)

    def delete(self, path: str, params: Mapping[str, FormValue] | None = None) -> StripeObject:
        return self.call("DELETE", path, params).body

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, FormValue] | None = None,
        idempotency_key: str | None = None,
    ) -> StripeResponse:
        """One logical call: every retry sends the same body and the same idempotency key."""
        pairs = encode_form(params or {})
        endpoint = f"{method} {path_template(path)}"
        key = self._keys["read" if method == "GET" else "write"]
        doubt = False

        def attempt() -> StripeResponse:
            nonlocal doubt
            try:
                response = self._authorised(method, path, pairs, idempotency_key)
            except RetryableError as error:
                # A 429 is refused before execution; anything else may have run on Stripe's side.
                doubt = doubt or not isinstance(error, RateLimited)
                raise
            return replace(response, after_doubt=doubt)

        return self._caller.call(key, endpoint, attempt)

    # -- paging --------------------------------------------------------------------------------------------
    def list_pages(self, path: str, params: Mapping[str, FormValue] | None = None) -> Iterator[list[StripeObject]]:
        """Every page of a list endpoint, newest first, following `starting_after`."""
        query: dict[str, FormValue] = {"limit": self.config.page_size, **(params or {})}
        while True:
            page = self.get(path, query)
            data: list[StripeObject] = list(page.get("data") or [])
            yield data
            if not page.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]

    def search_pages(self, path: str, query: str, limit: int) -> Iterator[list[StripeObject]]:
        """Pages of a `/search` endpoint; `limit` is per page (1..100)."""
        params: dict[str, FormValue] = {"query": query, "limit": max(1, min(limit, 100))}
        while True:
            page = self.get(path, params)
            data: list[StripeObject] = list(page.get("data") or [])
            yield data
            token = page.get("next_page")
            if not page.get("has_more") or not token:
                return
            params["page"] = token

    def rate_keys(self) -> list[GovernedKey]:
        """The read and write buckets (none when the injected caller has no governor)."""
        governor = self._caller.governor
        return [] if governor is None else [GovernedKey(governor, key) for key in self._keys.values()]

    def close(self) -> None:
        self._http.close()

    # -- one attempt ---------------------------------------------------------------------------------------
    def _authorised(
        self, method: str, path: str, pairs: list[tuple[str, str]], idempotency_key: str | None
    ) -> StripeResponse:
        """Send once; after a 401 re-read a referenced key and, if it changed, send once more.

        Repeating is safe even for a POST: Stripe authenticates before it executes anything."""
        used = self.auth.key()
        try:
            return self._send(method, path, pairs, idempotency_key)
        except AuthError:
            if not self.auth.refresh(used):
                raise
        return self._send(method, path, pairs, idempotency_key)

    def _send(
        self, method: str, path: str, pairs: list[tuple[str, str]], idempotency_key: str | None
    ) -> StripeResponse:
        request = self._build(method, path, pairs, idempotency_key)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(SYSTEM, request, exc) from exc
        if response.status_code >= 400:
            raise error_for_stripe(response)
        body = _json_object(response)
        if body is None:
            failure = AmbiguousWrite if method == "POST" else RetryableError
            raise failure(SYSTEM, f"{method} {path_template(path)} -> {response.status_code} without a JSON object")
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return StripeResponse(body, replayed, response.headers.get("Request-Id"))

    def _build(
        self, method: str, path: str, pairs: list[tuple[str, str]], idempotency_key: str | None
    ) -> httpx.Request:
        headers = self.auth.headers()
        extensions = {_OPERATION: f"{method} {path_template(path)}"}
        if method != "POST":
            query = urlencode(pairs)
            return self._http.build_request(method, path, params=query, headers=headers, extensions=extensions)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        content = urlencode(pairs).encode("ascii")
        return self._http.build_request(method, path, content=content, headers=headers, extensions=extensions)


def _json_object(response: httpx.Response) -> StripeObject | None:
    try:
        payload = json.loads(response.content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None

