"""Invoices end to end against the real Tryton ERP and the twins: an invoice posted in ERP is captured, becomes
InvoicePosted (once), the routing rule starts sync-billing-status for its customer and the CRM account shows the
open amount; paying it in ERP is captured as InvoiceUpdated, which refreshes the CRM account to paid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from concord.connectors.tryton.invoices import TrytonInvoiceFeed
from concord.delivery.capture import ChangeCapture
from concord.delivery.store import DeliveryStore
from concord.events.envelope import EventEnvelope
from concord.events.hub import EventSettings, build_runner, open_log
from concord.events.registry import SchemaRegistry
from concord.events.relay import OutboxRelay
from concord.events.routing import load_routing
from concord.events.subscribers import WorkflowSignalSubscriber
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.workflows.billing_sync import BillingFigures, crm_fields
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_model import SYNC_BILLING
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.signals import SignalStarter
from tests.connectors.tryton.test_credit import posted_invoice
from tests.connectors.tryton.test_invoices import pay_invoice
from tests.ingest.test_event_producers import events_of
from tests.workflows.lifecycle_support import finished, golden, onboarded, sf_account
from tests.workflows.support import Systems

pytestmark = pytest.mark.tryton
SUBSCRIPTION = "billing-status-sync"


@contextmanager
def ingesting(engine: WorkflowEngine, runtime: Runtime) -> Iterator[IngestService]:
    service = IngestService(engine.services.engine, runtime)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def route_events(db: Engine) -> None:
    """Relay the outbox and let the bundled billing-status-sync subscription consume what it routes."""
    registry = SchemaRegistry.default()
    cfg = load_routing(None, set(registry.types())).subscriptions[SUBSCRIPTION]
    assert set(cfg.events) == {"InvoicePosted", "InvoiceUpdated"}
    log = open_log(EventSettings(), db)
    try:
        OutboxRelay(db, log, registry).drain()
        runner = build_runner(SUBSCRIPTION, cfg, log, db, registry, WorkflowSignalSubscriber(cfg.subscriber))
        runner.drain()
        runner.close()
    finally:
        log.close()


def expected_crm(engine: WorkflowEngine, stripe_customer: str, erp_open: str) -> dict[str, Any]:
    billing = engine.services.connector("stripe", "default").receivables(stripe_customer)  # type: ignore[attr-defined]
    cents = Decimal(100)
    erp = Decimal(erp_open)
    return crm_fields(BillingFigures(open_amount=erp + Decimal(billing.open_amount) / cents,
                                     overdue_amount=Decimal(billing.overdue_amount) / cents,
                                     open_invoices=(1 if erp else 0) + billing.open_invoices))


def settle_billing(engine: WorkflowEngine, stripe_customer: str) -> None:
    billing: Any = engine.services.connector("stripe", "default")
    for invoice in billing.list_invoices(stripe_customer, "open"):
        billing.client.post(f"/v1/invoices/{invoice.id}/pay", {"paid_out_of_band": True},
                            idempotency_key=f"pay-{invoice.id}")
    assert billing.receivables(stripe_customer).open_invoices == 0


def _sync_run(engine: WorkflowEngine, customer: str, event: EventEnvelope) -> dict[str, Any]:
    assert SignalStarter(engine, lifecycle_specs()).poll() == 1
    run = finished(engine, SYNC_BILLING, f"{SYNC_BILLING}:default:{customer}:{event.correlation_id}")
    assert run.status == "completed" and run.result is not None, run
    return dict(run.result["detail"]["crm"])


def test_posted_invoice_reaches_crm_and_payment_turns_it_paid(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Invoice Flow AG")
    party, stripe_customer = int(made["tryton"]["party"]), made["stripe"]["customer"]
    erp: Any = engine.services.connector("tryton", "default")
    company = systems.tryton.meta.companies[0]
    db = engine.services.engine
    feed = TrytonInvoiceFeed(erp.client, company.id)
    with ingesting(engine, runtime) as ingest:
        capture = ChangeCapture(DeliveryStore(db), ingest)
        capture.start_from_now("tryton", feed, "invoice")  # the shared ERP's earlier invoices are not this test's
        invoice = posted_invoice(erp, systems.tryton, company, party, Decimal("300.00"))
        assert capture.poll("tryton", feed, "invoice", "invoice").applied == 1
        assert capture.poll("tryton", feed, "invoice", "invoice").records == 0  # nothing new: nothing again

        [posted] = events_of(db, "InvoicePosted")
        assert posted.customer_key == customer and posted.data["amount"] == "300"
        invoice_id = posted.data["canonical_id"]
        assert (golden(engine, invoice_id, "status"), golden(engine, invoice_id, "account_id")) == ("open", customer)
        route_events(db)
        route_events(db)  # a second relay/consume round starts nothing twice
        shown = _sync_run(engine, customer, posted)
        account = sf_account(systems, sf_id)
        assert shown == expected_crm(engine, stripe_customer, "300.00")
        # ERP's posted invoice plus billing's open subscription invoice, side by side on the CRM account
        assert (account["Open_Receivables__c"], account["Open_Invoices__c"], account["Billing_Status__c"]) == \
            (shown["Open_Receivables__c"], shown["Open_Invoices__c"], "Open")
        assert shown["Open_Receivables__c"] >= 300.0

        settle_billing(engine, stripe_customer)  # the customer also pays its subscription invoice in billing

        pay_invoice(erp.client, company, invoice)
        assert capture.poll("tryton", feed, "invoice", "invoice").applied == 1
        [paid] = [e for e in events_of(db, "InvoiceUpdated") if "status" in e.data["changes"]]
        assert paid.data["changes"]["status"] == {"before": "open", "after": "paid"}
        assert len(events_of(db, "InvoicePosted")) == 1
        route_events(db)
        refreshed = _sync_run(engine, customer, paid)
    assert golden(engine, invoice_id, "amount_due") == "0"
    assert refreshed == expected_crm(engine, stripe_customer, "0")
    account = sf_account(systems, sf_id)
    # both systems paid: nothing open anywhere
    assert (account["Billing_Status__c"], account["Open_Invoices__c"], account["Open_Receivables__c"]) == \
        ("Paid", 0, 0.0)
