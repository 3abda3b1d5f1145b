"""Salesforce REST over httpx through the shared runtime: governor → breaker → retry, typed errors, SOQL text.

Wire facts (developer.salesforce.com, REST API Developer Guide "Status Codes and Error Responses", SOQL and
SOSL Reference "Quoted String Escape Sequences", App Limits "API Request Limits and Allocations"):
- an error body is a JSON array of `{"message", "errorCode", "fields"?}`; collection results carry
  `{"statusCode", "message", "fields"}` per record; both map through `record_error`;
- 300 means an external id matched several records; 401 an expired or invalid session; 403
  `REQUEST_LIMIT_EXCEEDED` the org's rolling 24-hour allowance ("TotalRequests Limit exceeded") or, with
  another message, the concurrent long-running request limit, which clears within seconds;
- every data response carries `Sforce-Limit-Info: api-usage=N/M`, fed to the rate governor;
- SOQL string literals escape `\\`, `'`, `"` and control characters with a backslash.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    NotFound,
    QuotaExhausted,
    RateLimit,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.errors import error_for_transport
from concord.connectors.runtime.governor import Headroom, RateGovernor, RateKey
from concord.connectors.runtime.http import OPERATION_EXTENSION, CallRecorder, InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.quota_headers import parse_retry_after
from concord.connectors.runtime.redact import redact_text, redact_url
from concord.connectors.runtime.retry import Retrier
from concord.connectors.salesforce.auth import OAuthSession
from concord.connectors.salesforce.config import SECONDS_PER_DAY, SYSTEM, SalesforceConfig

# Parsed JSON straight off the wire; callers narrow it with `as_object` / `as_list`.
Json = Any
JsonObject = dict[str, Any]

LIMIT_HEADER = "Sforce-Limit-Info"
# Per-record failures that say nothing about the data: the same record may succeed on a later attempt.
RETRYABLE_RECORD_CODES = frozenset({
    "UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT", "SERVER_UNAVAILABLE",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
})
CONFLICT_CODES = frozenset({"DUPLICATE_VALUE", "DUPLICATE_EXTERNAL_ID", "DUPLICATES_DETECTED"})
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "ENTITY_IS_DELETED"})
_GATEWAY_STATUSES = frozenset({502, 504})
_FIELD_PATTERNS = (
    re.compile(r"No such column '([^']+)'"),
    re.compile(r"duplicate value found: (\w+) duplicates"),
    re.compile(r"Required fields are missing: \[([\w.]+)"),
    re.compile(r"Unable to create/update fields: ([\w.]+)"),
)
_DUPLICATE_ID = re.compile(r"duplicates value on record with id: (\w{15,18})")


class DuplicateValue(Conflict):
    """A unique or external-id field already holds this value; `existing_id` when Salesforce named it."""

    def __init__(self, system: str, message: str, field: str | None, existing_id: str | None) -> None:
        super().__init__(system, message)
        self.field = field
        self.existing_id = existing_id


# -- error mapping --------------------------------------------------------------------------------------


def field_from(message: str, fields: Sequence[Any] | None) -> str | None:
    """The offending field: Salesforce's `fields` list when it fills it, else what the message names."""
    if fields:
        return str(fields[0])
    for pattern in _FIELD_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1)
    return None


def record_error(code: str, message: str, fields: Sequence[Any] | None, where: str = "") -> ConnectorError:
    """The typed error for one Salesforce error item (REST body entry or collection result entry)."""
    text = redact_text(f"{where}{code}: {message}")
    if code in CONFLICT_CODES:
        found = _DUPLICATE_ID.search(message)
        return DuplicateValue(SYSTEM, text, field_from(message, fields), found.group(1) if found else None)
    if code in RETRYABLE_RECORD_CODES:
        return RetryableError(SYSTEM, text)
    if code in NOT_FOUND_CODES:
        return NotFound(SYSTEM, text)
    return DataRejected(SYSTEM, text, field=field_from(message, fields), code=code or None)


def vendor_error(response: httpx.Response) -> tuple[str, str, list[Any] | None]:
    """(errorCode, message, fields) of the first entry of a REST error body; empty strings when absent."""
    try:
        body: Json = response.json()
    except ValueError:
        return "", response.text[:300], None
    entry = body[0] if isinstance(body, list) and body else body
    if not isinstance(entry, dict):
        return "", str(entry)[:300], None
    fields = entry.get("fields")
    code = entry.get("errorCode") or entry.get("statusCode") or entry.get("error") or ""
    return str(code), str(entry.get("message", "")), fields if isinstance(fields, list) else None


def _where(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {redact_url(str(request.url))} -> {response.status_code}: "


def _retry_after(response: httpx.Response, now: float) -> float | None:
    raw = response.headers.get("retry-after")
    return None if raw is None else parse_retry_after(raw, now)


def _limit_error(code: str, message: str, where: str, response: httpx.Response, now: float) -> ConnectorError:
    text = redact_text(f"{where}{code}: {message}")
    if code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" in message:
        return QuotaExhausted(SYSTEM, text)
    if code == "REQUEST_LIMIT_EXCEEDED":
        # The concurrent long-running request limit: frees up as soon as other requests finish.
        return RateLimited(SYSTEM, text, retry_after=_retry_after(response, now))
    return AuthError(SYSTEM, text)


def error_for(response: httpx.Response, write: bool, now: float) -> ConnectorError | None:
    """The typed error for a Salesforce response; None for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    where = _where(response)
    if status == 429:
        return RateLimited(SYSTEM, f"{where}rate limited", retry_after=_retry_after(response, now))
    if status >= 500:
        if write and status in _GATEWAY_STATUSES:
            return AmbiguousWrite(SYSTEM, f"{where}outcome unknown", retry_after=_retry_after(response, now))
        return RetryableError(SYSTEM, f"{where}server error", retry_after=_retry_after(response, now))
    if status == 300:
        return Conflict(SYSTEM, f"{where}the external id matches more than one record")
    if status < 400:
        return RetryableError(SYSTEM, f"{where}unexpected status")
    code, message, fields = vendor_error(response)
    if status == 401:
        return AuthError(SYSTEM, redact_text(f"{where}{code}: {message}"))
    if status == 403:
        return _limit_error(code, message, where, response, now)
    if status == 404:
        return NotFound(SYSTEM, redact_text(f"{where}{code}: {message}"))
    if status in (409, 412):
        return Conflict(SYSTEM, redact_text(f"{where}{code}: {message}"))
    return record_error(code, message, fields, where)


def as_object(value: Json, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise RetryableError(SYSTEM, f"{what}: expected a JSON object")
    return value


def as_list(value: Json, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise RetryableError(SYSTEM, f"{what}: expected a JSON array")
    return value


# -- SOQL text ------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
            "\f": "\\f"}


def soql_name(name: str) -> str:
    """A field or object name safe to splice into SOQL (names cannot be quoted, so they are checked)."""
    if not _NAME.match(name):
        raise DataRejected(SYSTEM, f"not a field name: {name!r}", field=name, code="INVALID_FIELD")
    return name


def soql_string(text: str) -> str:
    return "'" + "".join(_ESCAPES.get(char, char) for char in text) + "'"


def soql_datetime(moment: datetime) -> str:
    """UTC to the millisecond, so an equality filter matches the stamp Salesforce returned."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def soql_literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return soql_string(value)
    raise DataRejected(SYSTEM, f"cannot compare with a {type(value).__name__} in SOQL", code="INVALID_FIELD")


def soql_condition(name: str, value: object) -> str:
    """`name = literal`, or `name IN (...)` for a list, tuple or set."""
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            raise DataRejected(SYSTEM, f"empty IN list for {name}", field=name, code="MALFORMED_QUERY")
        return f"{soql_name(name)} IN ({', '.join(soql_literal(item) for item in value)})"
    return f"{soql_name(name)} = {soql_literal(value)}"


# -- rate governance ------------------------------------------------------------------------------------


def rate_limit(config: SalesforceConfig) -> RateLimit:
    """Salesforce has no per-second cap, only the rolling 24-hour allowance: the bucket is that allowance."""
    quota = config.daily_api_quota
    return RateLimit(requests=quota, per_seconds=SECONDS_PER_DAY, daily_quota=quota)


def build_governor(config: SalesforceConfig, clock: Clock | None = None) -> RateGovernor:
    """A governor for this connector alone (the runtime's default header rules read `Sforce-Limit-Info`)."""
    return RateGovernor({SYSTEM: rate_limit(config)}, clock=clock)


# -- the client -----------------------------------------------------------------------------------------


class SalesforceClient:
    """JSON calls to one org. Paths are relative to the session's instance URL."""

    def __init__(
        self,
        config: SalesforceConfig,
        clock: Clock | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self.key = RateKey(config.tenant, SYSTEM, config.credential_id)
        self.governor = governor or build_governor(config, self._clock)
        self.recorder: CallRecorder = recorder or InMemoryCallRecorder()
        self._token_http = build_http_client(SYSTEM, "", self.recorder, settings=config.http, inner=transport)
        self.auth = OAuthSession(config, self._token_http, self._clock)
        self._http = build_http_client(
            SYSTEM, "", self.recorder, settings=config.http, headers={"Accept": "application/json"},
            on_response=self._observe, inner=transport,
        )
        self._http.auth = self.auth
        self.retrier = Retrier(config.retry, clock=self._clock, rng=rng)
        self._caller = ResilientCaller(self.retrier, BreakerRegistry(config.breaker, self._clock), self.governor)

    def _observe(self, response: httpx.Response) -> None:
        self.governor.observe(self.key, response.headers)

    def headroom(self) -> Headroom:
        return self.governor.headroom(self.key)

    def call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        body: Json = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> Json:
        """One logical call, retried under the policy; `operation` names its metrics and its breaker."""

        def attempt() -> Json:
            return self._send(method, path, operation, body, params, headers, write)

        return self._caller.call(self.key, operation, attempt)

    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        body: Json,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        write: bool,
    ) -> Json:
        url = self.auth.current().instance_url + path
        request = self._http.build_request(
            method, url, json=body, params=dict(params or {}), headers=dict(headers or {}),
            extensions={OPERATION_EXTENSION: operation},
        )
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(SYSTEM, request, exc) from exc
        error = error_for(response, write, self._clock.time())
        if error is not None:
            raise self._quota_noted(error)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            failure = AmbiguousWrite if write else RetryableError
            raise failure(SYSTEM, f"{_where(response)}answer is not JSON") from exc

    def _quota_noted(self, error: ConnectorError) -> ConnectorError:
        """Make the governor hold every caller once Salesforce says the daily allowance is spent."""
        if not isinstance(error, QuotaExhausted):
            return error
        if self.headroom().quota_resume_at is None:
            # No (or a stale) `Sforce-Limit-Info` on the refusal: record the exhaustion ourselves.
            quota = self.headroom().daily_limit or self.config.daily_api_quota
            self.governor.observe(self.key, {LIMIT_HEADER: f"api-usage={quota}/{quota}"})
        return QuotaExhausted(SYSTEM, error.message, resume_at=self.headroom().quota_resume_at)

    def close(self) -> None:
        self._http.close()
        self._token_http.close()
