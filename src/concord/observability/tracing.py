"""OpenTelemetry traces: ingest → workflow steps → connector calls, exported by OTLP/HTTP when
`CONCORD_OTLP_ENDPOINT` is set. Without an endpoint spans are still made (ids for logs and the console) but
go nowhere. OpenTelemetry keeps one tracer provider per process; `configure_tracing` installs it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cache

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

import concord

TRACER = "concord"
_lock = threading.Lock()
_installed: list[TracerProvider] = []


def configure_tracing(endpoint: str | None, exporter: SpanExporter | None = None,
                      processor: SpanProcessor | None = None) -> TracerProvider:
    """Install the process's tracer provider (first call wins; later calls may add an exporter)."""
    with _lock:
        if _installed:
            provider = _installed[0]
        else:
            provider = TracerProvider(resource=Resource.create({"service.name": "concord",
                                                                "service.version": concord.__version__}))
            trace.set_tracer_provider(provider)
            _installed.append(provider)
    if endpoint and exporter is None:
        processor = processor or otlp_processor(endpoint)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


class _Detachable(SpanProcessor):
    """Forwards to `inner` until detached. The SDK cannot remove a processor from a provider, and a shut-down
    processor left in place warns on every later span of the process."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner: SpanProcessor | None = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.inner is not None:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.inner is not None:
            self.inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if self.inner is None else self.inner.force_flush(timeout_millis)


@contextmanager
def attached_processor(processor: SpanProcessor) -> Iterator[SpanProcessor]:
    """Send spans to `processor` for the scope only (tests, a one-off export), then shut it down cleanly."""
    switch = _Detachable(processor)
    configure_tracing(None, processor=switch)
    try:
        yield processor
    finally:
        processor.force_flush()
        switch.inner = None
        processor.shutdown()


def otlp_processor(endpoint: str) -> SpanProcessor:
    """Batch export over OTLP/HTTP (protobuf) to `<endpoint>/v1/traces`."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))


@contextmanager
def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None,
         links: list[trace.Link] | None = None) -> Iterator[trace.Span]:
    """A span under the current one; exceptions are recorded on it and re-raised."""
    with _tracer().start_as_current_span(name, attributes=dict(attributes or {}), links=links) as current:
        yield current


@cache
def _tracer() -> trace.Tracer:
    """Looked up once: get_tracer reads the environment and builds a tracer on every call, and every ingest
    submit opens a span (decision 074). Safe to keep: without a provider yet it is a proxy that follows the
    provider installed later, and a process installs its provider once (configure_tracing)."""
    return trace.get_tracer(TRACER)


def handoff_link(name: str, attributes: Mapping[str, str | int | float | bool]) -> trace.Link | None:
    """Record span `name` under the current one and return a link to it, for work handed to another thread
    (ingest.submit → the writer's commit span). Nothing runs inside it, so it is never made current: the
    context attach/detach and the context-manager layers of `span` cost ~20 µs per ingest submit (decision 074)."""
    handed = _tracer().start_span(name, attributes=dict(attributes))
    handed.end()
    ctx = handed.get_span_context()
    return trace.Link(ctx) if ctx.is_valid else None


def step_span(workflow: str, step: str, customer: str | None = None) -> AbstractContextManager[trace.Span]:
    """For workflow steps (issue #5): `with step_span("onboarding", "create_erp_party", customer): ...`."""
    attrs: dict[str, str | int | float | bool] = {"concord.workflow": workflow, "concord.step": step}
    if customer:
        attrs["concord.customer"] = customer
    return span(f"workflow.{workflow}.{step}", attrs)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_link() -> trace.Link | None:
    ctx = trace.get_current_span().get_span_context()
    return trace.Link(ctx) if ctx.is_valid else None


def inject_headers(headers: dict[str, str]) -> None:
    """W3C traceparent on an outgoing call, so a vendor (or our twin) can join the trace."""
    propagate.inject(headers)
