"""Spans across ingest and connector calls, exported to an in-memory exporter (OTLP is the same pipeline)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from concord.connectors.runtime.http import InMemoryCallRecorder, build_http_client
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.observability.tracing import configure_tracing, current_trace_id, span, step_span


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    configure_tracing(None, processor=SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()  # later spans of other tests are dropped by this processor


def test_connector_call_is_a_child_span_and_carries_traceparent(exporter: InMemorySpanExporter) -> None:
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = build_http_client("stripe", "https://stripe.test", InMemoryCallRecorder(),
                               inner=httpx.MockTransport(vendor))
    with step_span("onboarding", "open_billing_account", "cus_1"):
        trace_id = current_trace_id()
        client.get("/v1/customers/cus_12345678")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    call, step = spans["connector.stripe"], spans["workflow.onboarding.open_billing_account"]
    assert call.parent is not None and call.parent.span_id == step.context.span_id
    assert format(call.context.trace_id, "032x") == trace_id
    assert call.attributes is not None and call.attributes["concord.operation"] == "GET /v1/customers/{id}"
    assert call.attributes["http.response.status_code"] == 200
    assert seen[0].headers["traceparent"].split("-")[1] == trace_id


def test_ingest_commit_links_to_the_submitting_span(exporter: InMemorySpanExporter, ingest: IngestService) -> None:
    change = ChangeCreate.model_validate({
        "tenant": "default", "system": "salesforce", "entity": "account", "external_id": "001T",
        "fields": {"Name": "Acme"}, "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "trace-1"})
    with span("api.request"):
        ingest.ingest([change])
    spans = exporter.get_finished_spans()
    submit = next(s for s in spans if s.name == "ingest.submit")
    commit = next(s for s in spans if s.name == "ingest.commit")
    assert submit.parent is not None
    assert [link.context.span_id for link in commit.links] == [submit.context.span_id]
