"""Stripe invoice capture against the twin: finalised invoices keyed to the customer onboarding provisioned the
Stripe customer for, drafts skipped, overdue and uncollectible read as sales reads them, payment seen as a change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine

from concord.connectors.base import DataRejected, ExternalRecord
from concord.connectors.stripe import StripeConnector
from concord.connectors.stripe.invoices import StripeInvoiceFeed, invoice_fields
from concord.delivery.capture import ChangeCapture
from concord.delivery.store import DeliveryStore
from concord.ingest.service import IngestService
from concord.storage import queries
from tests.connectors.stripe.support import Twin, connector_for, running_twin
from tests.factories import change
from tests.ingest.test_event_producers import events_of, ok


@pytest.fixture(scope="module")
def shared_twin() -> Iterator[Twin]:
    with running_twin() as twin:
        yield twin


@pytest.fixture
def stripe(shared_twin: Twin) -> Iterator[StripeConnector]:
    shared_twin.runtime.reset()
    connector = connector_for(shared_twin.url)
    yield connector
    connector.close()


def _invoiced_customer(stripe: StripeConnector, account: str, amount: int) -> tuple[str, str]:
    """A customer provisioned for `account` with one open send_invoice subscription invoice: (customer, invoice)."""
    customer = stripe.create("customer", {"name": "Invoiced Co", "metadata": {"concord_id": account}},
                             idempotency_key=f"cust-{account}")
    price = stripe.client.post("/v1/prices", {"currency": "eur", "unit_amount": amount, "recurring": {"interval":
                               "month"}, "product_data": {"name": "Plan"}}, idempotency_key=f"price-{amount}").body
    stripe.create("subscription", {"customer": customer.id, "plan_price": str(price["id"]), "quantity": 1,
                                   "collection_method": "send_invoice", "days_until_due": 14},
                  idempotency_key=f"sub-{account}")
    (invoice,) = stripe.list_invoices(customer=customer.id)
    return customer.id, invoice.id


def _drain(feed: StripeInvoiceFeed, cursor: str | None) -> tuple[list[ExternalRecord], str | None]:
    records: list[ExternalRecord] = []
    for _ in range(20):
        page = feed.changes_since("invoice", cursor)
        records.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            break
    return records, cursor


def test_invoice_fields_read_status_as_sales_does() -> None:
    base = {"id": "in_1", "status": "open", "due_date": 100, "amount_remaining": 500,
            "status_transitions": {"finalized_at": 50, "paid_at": None}}
    assert invoice_fields(base, "acc-1", now=99.0) | {} == {
        "id": "in_1", "status": "open", "due_date": 100, "amount_remaining": 500, "customer_account": "acc-1",
        "finalized_at": 50, "source_system": "stripe"}
    assert invoice_fields(base, "acc-1", now=101.0)["status"] == "overdue"
    assert invoice_fields({**base, "amount_remaining": 0}, None, now=101.0)["status"] == "open"  # nothing due
    assert invoice_fields({**base, "status": "uncollectible"}, None, now=0)["status"] == "void"
    assert invoice_fields({**base, "status": "paid"}, None, now=101.0)["status"] == "paid"


def test_feed_keys_invoices_to_the_account_and_sees_payment(stripe: StripeConnector) -> None:
    customer, invoice = _invoiced_customer(stripe, "acct-1", 4900)
    feed = StripeInvoiceFeed(stripe)
    records, cursor = _drain(feed, None)
    assert [(r.id, r.fields["status"], r.fields["customer_account"], r.fields["amount_remaining"]) for r in records] \
        == [(invoice, "open", "acct-1", 4900)]
    assert records[0].fields["finalized_at"] and records[0].fields["source_system"] == "stripe"
    read = feed.read("invoice", invoice)
    assert read is not None and read.fields == records[0].fields

    stripe.client.post(f"/v1/invoices/{invoice}/pay", {"paid_out_of_band": True}, idempotency_key="pay-1")
    later, _ = _drain(feed, cursor)
    assert [(r.id, r.fields["status"], r.fields["amount_remaining"]) for r in later][-1:] == [(invoice, "paid", 0)]
    late = StripeInvoiceFeed(stripe, now=lambda: datetime(2999, 1, 1, tzinfo=UTC))
    assert late.read("invoice", invoice).fields["status"] == "paid"  # type: ignore[union-attr]
    assert customer


def test_overdue_is_read_against_the_clock(stripe: StripeConnector, shared_twin: Twin) -> None:
    _, invoice = _invoiced_customer(stripe, "acct-2", 1200)
    httpx.post(f"{shared_twin.url}/__twin__/invoices/{invoice}/mark_overdue").raise_for_status()
    found = StripeInvoiceFeed(stripe).read("invoice", invoice)
    assert found is not None and found.fields["status"] == "overdue"


def test_feed_is_read_only(stripe: StripeConnector) -> None:
    feed = StripeInvoiceFeed(stripe)
    with pytest.raises(DataRejected, match="issued by Stripe Billing"):
        feed.create("invoice", {}, idempotency_key="x")
    with pytest.raises(DataRejected, match="only 'invoice'"):
        feed.changes_since("customer", None)


def test_capture_into_golden_invoices(stripe: StripeConnector, ingest: IngestService, engine: Engine) -> None:
    account = ok(ingest.ingest([change("salesforce", "001S", {"Name": "Invoiced Co"})])[0]).canonical_id
    _, invoice = _invoiced_customer(stripe, account, 4900)
    capture = ChangeCapture(DeliveryStore(engine), ingest)
    report = capture.poll("stripe", StripeInvoiceFeed(stripe), "invoice", "invoice")
    assert (report.applied, report.refused) == (1, 0)
    [posted] = events_of(engine, "InvoicePosted")
    assert posted.customer_key == account and posted.data["amount"] == "49"
    # Stripe stamps changes to the second: the payment may well share the finalisation's second (decision 079).
    stripe.client.post(f"/v1/invoices/{invoice}/pay", {"paid_out_of_band": True}, idempotency_key="pay-2")
    again = capture.poll("stripe", StripeInvoiceFeed(stripe), "invoice", "invoice")
    assert again.refused == 0 and again.applied >= 1
    [updated] = [e for e in events_of(engine, "InvoiceUpdated") if "status" in e.data["changes"]]
    assert updated.customer_key == account and updated.data["changes"]["status"]["after"] == "paid"
    assert len(events_of(engine, "InvoicePosted")) == 1
    with engine.connect() as conn:
        record = queries.golden_record(conn, posted.data["canonical_id"])
    assert record is not None and (record.value("status"), record.value("amount_due")) == ("paid", "0")
