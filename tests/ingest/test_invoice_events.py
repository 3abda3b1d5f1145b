"""Invoices through the ingest path: keyed to their customer, InvoicePosted once per invoice, InvoiceUpdated when
paid; each event valid against its registered schema and ordered with its customer's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from concord.ingest.service import IngestService
from concord.storage import queries
from tests.factories import change
from tests.ingest.test_event_producers import events_of, ok


def _tryton_invoice(state: str, to_pay: str, **extra: Any) -> dict[str, Any]:
    return {"party": "4711", "number": "INV-0001", "currency": "EUR", "total_amount": "300.00",
            "amount_to_pay": to_pay, "due_date": "2026-12-31", "state": state, "posted_date": "2026-12-01",
            "source_system": "tryton", "company": 1, "invoice_date": "2026-12-01", **extra}


def test_posted_invoice_is_announced_once_and_payment_is_an_update(ingest: IngestService, engine: Engine) -> None:
    customer = ok(ingest.ingest([change("tryton", "4711", {"name": "Receivables AG"})])[0]).canonical_id
    posted = ok(ingest.ingest([change("tryton", "17", _tryton_invoice("posted", "300.00"), entity="invoice",
                                      at=1)])[0])
    again = ok(ingest.ingest([change("tryton", "17", _tryton_invoice("posted", "300.00"), entity="invoice",
                                     at=2)])[0])  # a re-read of the same invoice (capture after a crash)
    assert again.applied == [] and again.canonical_id == posted.canonical_id
    [event] = events_of(engine, "InvoicePosted")
    assert event.customer_key == customer  # ordered and routed with its customer, not on its own
    assert event.data == {"entity": "invoice", "canonical_id": posted.canonical_id, "source_system": "tryton",
                          "invoice": "INV-0001", "amount": "300", "currency": "EUR"}
    assert events_of(engine, "InvoiceUpdated") == []

    paid = ok(ingest.ingest([change("tryton", "17", _tryton_invoice("paid", "0"), entity="invoice", at=3)])[0])
    assert sorted(paid.applied) == ["amount_due", "status"]
    [update] = events_of(engine, "InvoiceUpdated")
    assert update.customer_key == customer
    assert update.data["changes"]["status"] == {"before": "open", "after": "paid"}
    assert len(events_of(engine, "InvoicePosted")) == 1  # paying is no second posting
    with engine.connect() as conn:
        record = queries.golden_record(conn, posted.canonical_id)
    assert record is not None and record.values() == {
        "account_id": customer, "number": "INV-0001", "currency": "EUR", "amount_total": "300", "amount_due": "0",
        "due_date": "2026-12-31", "status": "paid", "source_system": "tryton", "posted_at": "2026-12-01"}


def test_stripe_invoice_is_keyed_to_the_provisioned_customer(ingest: IngestService, engine: Engine) -> None:
    customer = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Billing Co"})])[0]).canonical_id
    fields = {"object": "invoice", "customer": "cus_9", "customer_account": customer, "status": "open",
              "number": "TWIN-0001", "currency": "eur", "total": 4900, "amount_due": 4900, "amount_paid": 0,
              "amount_remaining": 4900, "due_date": None, "finalized_at": 1765000000, "source_system": "stripe",
              "metadata": {}, "subscription": "sub_1", "created": 1765000000, "livemode": False}
    made = ok(ingest.ingest([change("stripe", "in_1", fields, entity="invoice")])[0])
    [event] = events_of(engine, "InvoicePosted")
    assert event.customer_key == customer and event.data["amount"] == "49" and event.data["currency"] == "EUR"
    with engine.connect() as conn:
        record = queries.golden_record(conn, made.canonical_id)
        billing = [b for b in queries.bindings_of(conn, record.value("billing_account_id"))] if record else []
    assert record is not None and record.value("status") == "open" and record.value("amount_due") == "49"
    assert [(b["system"], b["entity"], b["external_id"]) for b in billing] == [("stripe", "billing_account", "cus_9")]


def test_voided_before_anyone_saw_it_open_is_no_posting(ingest: IngestService, engine: Engine) -> None:
    ok(ingest.ingest([change("tryton", "4711", {"name": "Void Co"})])[0])
    ok(ingest.ingest([change("tryton", "18", _tryton_invoice("cancelled", "0"), entity="invoice")])[0])
    assert events_of(engine, "InvoicePosted") == [] and len(events_of(engine, "InvoiceCreated")) == 1
