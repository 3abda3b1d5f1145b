"""Zendesk Support over HTTP through the resilience runtime, with Zendesk's error bodies mapped to typed errors.

Every request takes a token from the rate governor (and one from the incremental-export bucket for those
endpoints), goes through the endpoint's circuit breaker and is retried by the `RetryPolicy`. Writes are
safe to retry here: Concord only writes with `create_or_update` (keyed by `external_id`), `PUT` and bulk
jobs whose records carry unique names / external ids, so a repeated request cannot duplicate a record.

Error shapes (Support API reference, "Errors"):
- 422 `{"error": "RecordInvalid", "description": ..., "details": {field: [{"description", "error"}]}}`;
- 400/422 `{"error": "InvalidValue" | "InvalidPaginationParameter" | ..., "description": ...}`;
- 404 `{"error": "RecordNotFound" | "InvalidEndpoint", "description": "Not found"}`;
- 429 with `Retry-After` (seconds), body in plain text;
- 401 `{"error": "Couldn't authenticate you"}`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import httpx

from concord.connectors.base import (
    AmbiguousWrite,
    ConnectorError,
    DataRejected,
    NotFound,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport, is_write
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import OPERATION_EXTENSION, CallRecorder, InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.retry import Retrier
from concord.connectors.zendesk.auth import ZendeskAuth
from concord.connectors.zendesk.config import INCREMENTAL_SYSTEM, SYSTEM, ZendeskConfig

JsonDict = dict[str, Any]
Params = Mapping[str, str | int]

_JOB_DONE = frozenset({"completed", "failed", "killed"})
_TOO_RECENT = "too recent start_time"


class TooRecentStartTime(DataRejected):
    """An incremental export refused a `start_time` inside the last minute: nothing is exportable yet."""


def _body(response: httpx.Response) -> JsonDict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def record_invalid(body: Mapping[str, Any]) -> DataRejected:
    """`RecordInvalid`: the field is the first key of `details`, the message joins its descriptions."""
    details = body.get("details")
    field: str | None = None
    descriptions: list[str] = []
    code = str(body.get("error") or "RecordInvalid")
    if isinstance(details, dict) and details:
        field = str(next(iter(details)))
        for entries in details.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    descriptions.append(str(entry.get("description", "")))
        first = details[field]
        if isinstance(first, list) and first and isinstance(first[0], dict) and first[0].get("error"):
            code = str(first[0]["error"])
    message = "; ".join(d for d in descriptions if d) or str(body.get("description") or "Record validation errors")
    return DataRejected(SYSTEM, message, field=field, code=code)


def zendesk_error(response: httpx.Response) -> ConnectorError | None:
    """The typed error for a Zendesk response, or None for a success."""
    generic = error_for_response(SYSTEM, response)
    if generic is None or isinstance(generic, RetryableError):
        return generic  # 429 (with Retry-After) and 5xx keep the runtime's transport rules
    body = _body(response)
    status = response.status_code
    if status == 404:
        return NotFound(SYSTEM, f"{response.request.method} {response.request.url.path}: not found")
    if status == 422 and isinstance(body.get("details"), dict):
        return record_invalid(body)
    if status in (400, 422) and body.get("error"):
        description = str(body.get("description") or body["error"])
        kind = TooRecentStartTime if _TOO_RECENT in description.lower() else DataRejected
        return kind(SYSTEM, description, code=str(body["error"]))
    return generic


class ZendeskClient:
    """Typed JSON calls; `call` is retried and governed, `send` is one governed attempt."""

    def __init__(
        self,
        config: ZendeskConfig,
        auth: ZendeskAuth,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.auth = auth
        self.clock: Clock = clock or SystemClock()
        limits = {SYSTEM: config.rate_limit, INCREMENTAL_SYSTEM: config.incremental_rate_limit}
        self.governor = governor or RateGovernor(limits, clock=self.clock)
        self.key = RateKey(config.tenant, SYSTEM, auth.credential_id)
        self.incremental_key = RateKey(config.tenant, INCREMENTAL_SYSTEM, auth.credential_id)
        self.breakers = BreakerRegistry(config.breaker, self.clock)
        self.caller = ResilientCaller(Retrier(config.retry, self.clock, rng), self.breakers)
        self.recorder = recorder or InMemoryCallRecorder()
        self._http = build_http_client(
            SYSTEM,
            config.api_url,
            self.recorder,
            config.http,
            headers={"Accept": "application/json"},
            on_response=self._observe,
            inner=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _observe(self, response: httpx.Response) -> None:
        # X-Rate-Limit-Remaining is the account's own counter, shared with every other API client.
        self.governor.observe(self.key, response.headers)

    def call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Params | None = None,
        body: JsonDict | None = None,
        incremental: bool = False,
    ) -> JsonDict:
        """One logical call: governor → breaker → retry around `send`."""

        def attempt() -> JsonDict:
            return self.send(method, path, operation, params=params, body=body, incremental=incremental)

        return self.caller.call(self.key, operation, attempt)

    def send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Params | None = None,
        body: JsonDict | None = None,
        incremental: bool = False,
    ) -> JsonDict:
        """One attempt. A 401 is answered by one token refresh and one repeat, when a refresher is set."""

        def transmit() -> httpx.Response:
            self.governor.acquire(self.key)
            if incremental:
                self.governor.acquire(self.incremental_key)
            return self._transmit(method, path, operation, params, body)

        response = transmit()
        if response.status_code == 401 and self.auth.refresh(response.request.headers.get("authorization", "")):
            response = transmit()
        error = zendesk_error(response)
        if error is not None:
            if isinstance(error, RateLimited) and error.retry_after:
                # The limit is account-wide: every caller of this key waits, not just this one.
                self.governor.pause(self.key, error.retry_after)
            raise error
        if response.status_code == 204 or not response.content:
            return {}
        data = _body(response)
        if not data:
            kind = AmbiguousWrite if is_write(response.request) else RetryableError
            raise kind(SYSTEM, f"{method} {path}: {response.status_code} without a JSON object body")
        return data

    def _transmit(
        self, method: str, path: str, operation: str, params: Params | None, body: JsonDict | None
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            path,
            params=dict(params) if params else None,
            json=body,
            headers={"Authorization": self.auth.header()},
            extensions={OPERATION_EXTENSION: operation},
        )
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(SYSTEM, request, exc) from exc

    def wait_for_job(self, job: Mapping[str, Any]) -> JsonDict:
        """Poll `job_statuses/{id}` until the job completed; a failed or killed job raises.

        Zendesk answers the enqueueing request with a "queued" snapshot, so the first poll goes out at once
        and later ones wait `job_poll_interval_s` on the injected clock.
        """
        job_id = str(job.get("id", ""))
        deadline = self.clock.monotonic() + self.config.job_timeout_s
        while True:
            current: JsonDict = self.call("GET", f"/api/v2/job_statuses/{job_id}", "job_statuses.show")["job_status"]
            status = str(current.get("status"))
            if status in _JOB_DONE:
                break
            if self.clock.monotonic() >= deadline:
                raise ConnectorError(SYSTEM, f"job {job_id} still {status} after {self.config.job_timeout_s}s")
            self.clock.sleep(self.config.job_poll_interval_s)
        if status != "completed":
            raise ConnectorError(SYSTEM, f"job {job_id} {status}: {current.get('message') or 'no message'}")
        return current
