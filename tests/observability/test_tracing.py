"""Spans across ingest and connector calls, exported to an in-memory exporter (OTLP is the same pipeline)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from concord.connectors.runtime.http import InMemoryCallRecorder, build_http_client
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.observability.tracing import attached_processor, current_trace_id, otlp_processor, span, step_span


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    with attached_processor(SimpleSpanProcessor(memory)):
        yield memory


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


def test_spans_are_exported_over_otlp_http_to_the_configured_endpoint() -> None:
    received: list[tuple[str, str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    processor = otlp_processor(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        with attached_processor(processor):
            with span("ingest.submit", {"concord.changes": 3}):
                pass
            assert processor.force_flush(10_000)
    finally:
        server.shutdown()
        server.server_close()
    path, content_type, body = received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"ingest.submit" in body and b"concord.changes" in body
