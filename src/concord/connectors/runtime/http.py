"""The HTTP layer every connector client is built on: timeouts, correlation ids, per-call metrics.

`InstrumentedTransport` wraps any httpx transport (so respx and `httpx.MockTransport` still work under it),
stamps `X-Correlation-ID` on each request and records one `CallSample` per call. It logs only redacted URLs
and never headers or bodies, so a secret cannot reach a log line through it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.runtime.redact import redact_url
from concord.observability.tracing import inject_headers, span

CORRELATION_HEADER = "X-Correlation-ID"
OPERATION_EXTENSION = "concord_operation"

_correlation_id: ContextVar[str | None] = ContextVar("concord_correlation_id", default=None)
_ID_SEGMENT = re.compile(r"^(?:\d+|(?=[^/]*\d)[A-Za-z0-9_.:-]{8,})$")

Outcome = Literal["ok", "client_error", "rate_limited", "server_error", "timeout", "network_error"]


class HttpSettings(BaseModel):
    """Per-call timeouts. `read_timeout_s` bounds one wait for bytes, not the whole call."""

    model_config = ConfigDict(frozen=True)

    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    write_timeout_s: float = Field(default=30.0, gt=0)
    pool_timeout_s: float = Field(default=5.0, gt=0)

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout_s,
            read=self.read_timeout_s,
            write=self.write_timeout_s,
            pool=self.pool_timeout_s,
        )


def current_correlation_id() -> str:
    """The id of the unit of work in progress, or a fresh one for a call made outside any."""
    return _correlation_id.get() or uuid.uuid4().hex


@contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Tag every call made inside the block with one correlation id."""
    value = correlation_id or uuid.uuid4().hex
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


@dataclass(frozen=True)
class CallSample:
    system: str
    operation: str
    method: str
    status: int | None
    outcome: Outcome
    latency_s: float
    correlation_id: str


class CallRecorder(Protocol):
    def record(self, sample: CallSample) -> None: ...


class InMemoryCallRecorder:
    """Keeps samples in a list; the metrics module can read or drain it."""

    def __init__(self) -> None:
        self._samples: list[CallSample] = []
        self._lock = threading.Lock()

    def record(self, sample: CallSample) -> None:
        with self._lock:
            self._samples.append(sample)

    @property
    def samples(self) -> list[CallSample]:
        with self._lock:
            return list(self._samples)

    def counts(self) -> dict[tuple[str, str, Outcome], int]:
        totals: dict[tuple[str, str, Outcome], int] = {}
        for sample in self.samples:
            key = (sample.system, sample.operation, sample.outcome)
            totals[key] = totals.get(key, 0) + 1
        return totals


def operation_name(request: httpx.Request) -> str:
    """The caller's name for the call (`extensions={"concord_operation": ...}`), else method + path template.

    Ids in the path become `{id}` so one metric series covers every record.
    """
    named = request.extensions.get(OPERATION_EXTENSION)
    if isinstance(named, str) and named:
        return named
    segments = ["{id}" if _ID_SEGMENT.match(part) else part for part in request.url.path.split("/")]
    return f"{request.method} {'/'.join(segments)}"


def outcome_for_status(status: int) -> Outcome:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class InstrumentedTransport(httpx.BaseTransport):
    def __init__(
        self,
        system: str,
        recorder: CallRecorder,
        inner: httpx.BaseTransport | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._system = system
        self._recorder = recorder
        self._inner = inner or httpx.HTTPTransport()
        self._on_response = on_response
        self._timer = timer
        self._log = logging.getLogger("concord.connectors.http")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if CORRELATION_HEADER not in request.headers:
            request.headers[CORRELATION_HEADER] = current_correlation_id()
        attrs = {"concord.system": self._system, "concord.operation": operation_name(request),
                 "http.request.method": request.method, "concord.correlation_id": request.headers[CORRELATION_HEADER]}
        with span(f"connector.{self._system}", attrs) as current:
            carrier: dict[str, str] = {}
            inject_headers(carrier)
            request.headers.update(carrier)
            response = self._send(request)
            current.set_attribute("http.response.status_code", response.status_code)
            return response

    def _send(self, request: httpx.Request) -> httpx.Response:
        started = self._timer()
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError as exc:
            failed: Outcome = "timeout" if isinstance(exc, httpx.TimeoutException) else "network_error"
            self._record(request, None, failed, self._timer() - started)
            raise
        status = response.status_code
        self._record(request, status, outcome_for_status(status), self._timer() - started)
        if self._on_response is not None:
            self._on_response(response)
        return response

    def close(self) -> None:
        self._inner.close()

    def _record(self, request: httpx.Request, status: int | None, outcome: Outcome, latency: float) -> None:
        correlation = request.headers.get(CORRELATION_HEADER, "")
        operation = operation_name(request)
        self._recorder.record(
            CallSample(self._system, operation, request.method, status, outcome, latency, correlation)
        )
        self._log.debug(
            "%s %s %s -> %s (%s) in %.1f ms [%s]",
            self._system,
            request.method,
            redact_url(str(request.url)),
            status,
            outcome,
            latency * 1000,
            correlation,
        )


def build_http_client(
    system: str,
    base_url: str,
    recorder: CallRecorder,
    settings: HttpSettings | None = None,
    headers: Mapping[str, str] | None = None,
    on_response: Callable[[httpx.Response], None] | None = None,
    inner: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """A sync client with timeouts, correlation ids and metrics. `on_response` can feed
    `RateGovernor.observe` with each response's headers."""
    transport = InstrumentedTransport(system, recorder, inner=inner, on_response=on_response)
    return httpx.Client(
        base_url=base_url,
        timeout=(settings or HttpSettings()).timeout(),
        headers=dict(headers or {}),
        transport=transport,
    )
