"""HubSpot CRM v3 over httpx through the shared runtime: governor → breaker → retry, typed errors.

Wire facts (developers.hubspot.com, "Error handling", "API usage guidelines", CRM objects reference):
- errors are `{"status": "error", "message", "correlationId", "category", "errors"?: [{"message", "code",
  "context": {"propertyName": [...]}}]}`; invalid property values are 400 VALIDATION_ERROR with codes
  PROPERTY_DOESNT_EXIST, INVALID_OPTION, INVALID_EMAIL, ... (the verdicts are also JSON inside `message`);
- a unique-value clash is 409 CONFLICT; a missing record 404 OBJECT_NOT_FOUND;
- 429 names its `policyName`: TEN_SECONDLY_ROLLING (burst; HubSpot sends no Retry-After, the window length
  is in `X-HubSpot-RateLimit-Interval-Milliseconds`) or DAILY (resets at midnight in the portal's zone);
- every response carries `X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds` and, for private
  apps, `-Daily/-Daily-Remaining`; they are fed to the rate governor.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from concord.connectors.hubspot.auth import PrivateAppAuth, SecretResolver
from concord.connectors.hubspot.config import SYSTEM, HubSpotConfig
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import OPERATION_EXTENSION, CallRecorder, InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.quota_headers import HeaderRule, parse_retry_after
from concord.connectors.runtime.redact import redact_text, redact_url
from concord.connectors.runtime.retry import Retrier

JsonObject = dict[str, Any]

DAILY_POLICY = "DAILY"
_VALIDATION_PREFIX = "Property values were not valid: "
_GATEWAY_STATUSES = frozenset({502, 504})


# -- rate governance ------------------------------------------------------------------------------------


def header_rules(config: HubSpotConfig) -> tuple[HeaderRule, ...]:
    """HubSpot's limit headers, scaled so the governor's token bucket never outruns HubSpot's window.

    HubSpot counts calls in a *rolling* window: at most `Max` in any `Interval` ms. A token bucket of
    capacity C refilling at r/s lets C + r·W calls through in a window of W seconds, so a bucket of the
    full limit (C = Max, r = Max/W) would allow twice the limit right after a burst and draw 429s. We keep
    C + r·W = Max·(1 - safety): a capacity of `burst_fraction` of that, the rest paced evenly.
    """
    fraction, budget = config.burst_fraction, 1 - config.burst_safety
    return (
        HeaderRule(header="X-HubSpot-RateLimit-Remaining", target="interval_remaining"),
        HeaderRule(header="X-HubSpot-RateLimit-Max", target="interval_max", scale=fraction * budget),
        # refill = interval_max / interval_seconds = (1 - fraction)·Max·budget / W
        HeaderRule(
            header="X-HubSpot-RateLimit-Interval-Milliseconds",
            target="interval_seconds",
            scale=0.001 * fraction / (1 - fraction),
        ),
        HeaderRule(header="X-HubSpot-RateLimit-Daily-Remaining", target="daily_remaining"),
        HeaderRule(header="X-HubSpot-RateLimit-Daily", target="daily_max"),
        HeaderRule(header="Retry-After", target="retry_after", kind="retry_after"),
    )


def governed_limit(config: HubSpotConfig) -> RateLimit:
    """The bucket the governor starts with, before the first response's headers tune it (see above)."""
    capacity = max(int(config.governed_burst()), 1)
    refill_per_s = (1 - config.burst_fraction) * config.burst_limit * (1 - config.burst_safety)
    refill_per_s /= config.burst_window_s
    return RateLimit(requests=capacity, per_seconds=capacity / refill_per_s, daily_quota=config.daily_quota)


def build_governor(config: HubSpotConfig, clock: Clock | None = None) -> RateGovernor:
    """A governor for this connector alone; pass a shared one (with `header_rules`) to pace several."""
    return RateGovernor({SYSTEM: governed_limit(config)}, clock=clock, header_rules=header_rules(config))


# -- error mapping --------------------------------------------------------------------------------------


def _parsed(response: httpx.Response) -> JsonObject | None:
    try:
        loaded = response.json()
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _body(response: httpx.Response) -> JsonObject:
    return _parsed(response) or {}


def _where(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {redact_url(str(request.url))} -> {response.status_code}"


def property_problem(body: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(property, code, message) of the first per-property verdict in a VALIDATION_ERROR body."""
    for item in body.get("errors") or []:
        if not isinstance(item, dict):
            continue
        context = item.get("context") if isinstance(item.get("context"), dict) else {}
        names = context.get("propertyName") if context else None
        name = names[0] if isinstance(names, list) and names else item.get("in")
        if name:
            return str(name), item.get("code"), item.get("message")
    message = str(body.get("message", ""))
    if message.startswith(_VALIDATION_PREFIX):
        try:
            verdicts = json.loads(message[len(_VALIDATION_PREFIX) :])
        except ValueError:
            verdicts = []
        for verdict in verdicts if isinstance(verdicts, list) else []:
            if isinstance(verdict, dict) and verdict.get("name"):
                return str(verdict["name"]), verdict.get("error"), verdict.get("message")
    return None, None, None


def _rejected(response: httpx.Response, body: Mapping[str, Any]) -> DataRejected:
    name, code, detail = property_problem(body)
    category = str(body.get("category") or "VALIDATION_ERROR")
    message = redact_text(str(detail or body.get("message") or response.text[:300]))
    return DataRejected(SYSTEM, f"{_where(response)} {category}: {message}", field=name, code=code or category)


def next_midnight(now: float, zone: str) -> datetime:
    """When HubSpot's daily allowance resets: the next midnight in the portal's time zone."""
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


def _throttled(response: httpx.Response, body: Mapping[str, Any], config: HubSpotConfig, now: float) -> ConnectorError:
    message = f"{_where(response)}: {redact_text(str(body.get('message') or 'rate limited'))}"
    if body.get("policyName") == DAILY_POLICY:
        return QuotaExhausted(SYSTEM, message, resume_at=next_midnight(now, config.quota_timezone))
    retry_after: float | None = None
    if "retry-after" in response.headers:
        retry_after = parse_retry_after(response.headers["retry-after"], now)
    if retry_after is None:
        # HubSpot does not say when a slot frees up in its rolling window; waiting one window always works.
        interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
        retry_after = int(interval) / 1000 if interval.isdigit() else config.burst_window_s
    return RateLimited(SYSTEM, message, retry_after=retry_after)


def error_for(response: httpx.Response, write: bool, config: HubSpotConfig, now: float) -> ConnectorError | None:
    """The typed error for a HubSpot response, None for success (2xx, including 207 Multi-Status)."""
    status = response.status_code
    if status < 400:
        return None
    body = _body(response)
    vendor = redact_text(str(body.get("message") or response.text[:300]))
    if status == 429:
        return _throttled(response, body, config, now)
    if status >= 500:
        if write and status in _GATEWAY_STATUSES:
            return AmbiguousWrite(SYSTEM, f"{_where(response)}: outcome unknown")
        return RetryableError(SYSTEM, f"{_where(response)}: {vendor}")
    if status in (401, 403):
        return AuthError(SYSTEM, f"{_where(response)} {body.get('category', '')}: {vendor}")
    if status in (404, 410):
        return NotFound(SYSTEM, f"{_where(response)}: {vendor}")
    if status in (409, 412):
        return Conflict(SYSTEM, f"{_where(response)} {body.get('category', 'CONFLICT')}: {vendor}")
    return _rejected(response, body)


def error_for_transport(request: httpx.Request, exc: httpx.TransportError, write: bool) -> ConnectorError:
    where = f"{request.method} {redact_url(str(request.url))}: {type(exc).__name__}"
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryableError(SYSTEM, f"{where} (not sent)")
    if write:
        return AmbiguousWrite(SYSTEM, f"{where} (sent, outcome unknown)")
    return RetryableError(SYSTEM, where)


def _item_error(entry: Mapping[str, Any]) -> ConnectorError:
    category = str(entry.get("category") or "")
    message = f"{category}: {entry.get('message', '')}"
    if category == "OBJECT_NOT_FOUND":
        return NotFound(SYSTEM, message)
    if category == "CONFLICT":
        return Conflict(SYSTEM, message)
    name, code, _ = property_problem(entry)
    return DataRejected(SYSTEM, message, field=name, code=code or category or None)


def batch_item_errors(body: JsonObject, keys: list[str]) -> dict[str, ConnectorError]:
    """Per-input errors of a 207 answer; an error naming no ids applies to every input without a result."""
    found: dict[str, ConnectorError] = {}
    for entry in body.get("errors") or []:
        if not isinstance(entry, dict):
            continue
        context = entry.get("context") if isinstance(entry.get("context"), dict) else {}
        ids = (context or {}).get("ids") or (context or {}).get("id") or keys
        error = _item_error(entry)
        for key in ids if isinstance(ids, list) else [ids]:
            found.setdefault(str(key), error)
    return found


# -- the client -----------------------------------------------------------------------------------------


class HubSpotClient:
    """JSON calls to one portal. `write` marks calls that change data (search is a POST but reads)."""

    def __init__(
        self,
        config: HubSpotConfig,
        clock: Clock | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        transport: httpx.BaseTransport | None = None,
        resolver: SecretResolver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self.key = RateKey(config.tenant, SYSTEM, config.credential_id)
        self.governor = governor or build_governor(config, self._clock)
        self.recorder: CallRecorder = recorder or InMemoryCallRecorder()
        self.auth = PrivateAppAuth(config, resolver)
        self._http = build_http_client(
            SYSTEM, config.base_url, self.recorder, settings=config.http,
            headers={"Accept": "application/json"}, on_response=self._observe, inner=transport,
        )
        self._http.auth = self.auth
        retrier = Retrier(config.retry, clock=self._clock, rng=rng)
        self._caller = ResilientCaller(retrier, BreakerRegistry(config.breaker, self._clock), self.governor)

    def _observe(self, response: httpx.Response) -> None:
        self.governor.observe(self.key, response.headers)

    def call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        body: JsonObject | None = None,
        params: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> JsonObject:
        """One logical call, retried under the policy; `operation` names its metrics and its breaker."""

        def attempt() -> JsonObject:
            return self._send(method, path, operation, body, params, write)

        return self._caller.call(self.key, operation, attempt)

    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        body: JsonObject | None,
        params: Mapping[str, str] | None,
        write: bool,
    ) -> JsonObject:
        request = self._http.build_request(
            method, path, json=body, params=dict(params or {}), extensions={OPERATION_EXTENSION: operation}
        )
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(request, exc, write) from exc
        error = error_for(response, write, self.config, self._clock.time())
        if error is not None:
            raise error
        if not response.content:
            return {}
        loaded = _parsed(response)
        if loaded is None:
            failure = AmbiguousWrite if write else RetryableError
            raise failure(SYSTEM, f"{_where(response)}: answer is not a JSON object")
        return loaded

    def close(self) -> None:
        self._http.close()
