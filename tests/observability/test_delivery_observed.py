"""A delivery to the Stripe twin carries the change's correlation id to the vendor, labels the connector metric
with the tenant, and nests the connector call's span under the delivery span."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine

from concord.connectors.stripe import StripeClient, StripeConnector
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.observability.metrics import build_metrics
from concord.observability.tracing import attached_processor
from tests.connectors.stripe.support import config_for, running_twin


def test_delivery_is_correlated_traced_and_labelled(engine: Engine, ingest: IngestService) -> None:
    exporter = InMemorySpanExporter()
    metrics = build_metrics(lambda: None, lambda engine: 0)
    outcome = ingest.ingest([ChangeCreate(
        tenant="sandbox", system="concord", entity="billing_account", external_id="ba-obs", canonical_id="ba-obs",
        fields={"name": "Observed Ltd", "currency": "EUR"}, source_ts=datetime.now(UTC), idempotency_key="ba-obs",
        correlation_id="corr-observed-1")])[0]
    assert isinstance(outcome, ChangePublic) and outcome.outbound_commands == 1
    with attached_processor(SimpleSpanProcessor(exporter)), running_twin() as twin:
        config = config_for(twin.url, tenant="sandbox")
        connector = StripeConnector(config, StripeClient(config, recorder=metrics))
        report = CommandDispatcher(DeliveryStore(engine), {"stripe": connector}).drain()
        connector.close()
    assert report.delivered == 1, report.errors
    drained = metrics.drain()
    samples = [sample for sample, _ in drained]
    assert samples and {s.correlation_id for s in samples} == {"corr-observed-1"}
    assert {tenant for _, tenant in drained} == {"sandbox"}  # the latency chart's tenant filter finds them
    ok = metrics.registry.get_sample_value("concord_connector_call_seconds_count", {
        "tenant": "sandbox", "system": "stripe", "operation": samples[0].operation, "outcome": "ok"})
    assert ok is not None and ok >= 1
    spans = exporter.get_finished_spans()
    delivery = next(s for s in spans if s.name == "delivery.command")
    calls = [s for s in spans if s.name == "connector.stripe"]
    assert calls and all(c.parent is not None and c.parent.span_id == delivery.context.span_id for c in calls)
