"""Tryton customer invoice capture against a real trytond: posted and paid invoices read as the flat invoice
record, drafts never, a payment (the reconciliation of the receivable) seen as a change of the invoice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from concord.connectors.base import DataRejected, ExternalRecord
from concord.connectors.tryton import TrytonConnector
from concord.connectors.tryton.client import RpcIn, TrytonClient
from concord.connectors.tryton.invoices import TrytonInvoiceFeed
from concord.delivery.store import DeliveryStore
from concord.delivery.sync_plan import hosted_sync, plan_sync
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.sandbox.tryton import CompanyInfo, TrytonServer
from concord.storage import queries
from tests.connectors.tryton.test_credit import draft_invoice, make_party, net_30, posted_invoice
from tests.delivery.twins import eventually
from tests.factories import change
from tests.ingest.test_event_producers import events_of, ok

pytestmark = pytest.mark.tryton


def pay_invoice(client: TrytonClient, company: CompanyInfo, invoice_id: int) -> None:
    """Pay in full as a clerk would: a posted cash receipt for the party, reconciled with the invoice's receivable
    line (Tryton then marks the invoice paid). The reconcile wizard is the desktop client's "Reconcile Lines"."""
    ctx: dict[str, RpcIn] = {"company": company.id}
    (row,) = client.read("account.invoice", [invoice_id], ["party", "amount_to_pay", "lines_to_pay"], ctx)
    amount, party = row["amount_to_pay"], row["party"]
    assert isinstance(amount, Decimal) and isinstance(party, int) and isinstance(row["lines_to_pay"], list)
    today = date.today()
    (cash,) = client.search("account.account", [("code", "=", "1.1.1"), ("company", "=", company.id)], context=ctx)
    (journal,) = client.search("account.journal", [("type", "=", "cash")], limit=1, context=ctx)
    (period,) = client.search("account.period", [("company", "=", company.id), ("type", "=", "standard"),
                                                  ("start_date", "<=", today), ("end_date", ">=", today)], context=ctx)
    (move,) = client.create("account.move", [{
        "journal": journal, "period": period, "date": today, "company": company.id,
        "lines": [["create", [{"account": company.accounts.receivable, "party": party, "credit": amount,
                               "debit": Decimal(0)},
                              {"account": cash, "debit": amount, "credit": Decimal(0)}]]]}], ctx)
    client.button("account.move", "post", [move], ctx)
    (receipt,) = client.search("account.move.line", [("move", "=", move),
                                                      ("account", "=", company.accounts.receivable)], context=ctx)
    client.write("account.invoice", [invoice_id], {"payment_lines": [["add", [receipt]]]}, ctx)
    lines = [*row["lines_to_pay"], receipt]
    wizard = "wizard.account.move.reconcile_lines"
    wctx = client.auth.context({**ctx, "active_model": "account.move.line", "active_ids": lines, "active_id": lines[0]})
    created = client.call(f"{wizard}.create", [wctx], write=True)  # [session id, start state, end state]
    assert isinstance(created, list)
    session, start = created[0], created[1]
    client.call(f"{wizard}.execute", [session, {}, start, wctx], write=True)
    client.call(f"{wizard}.delete", [session, wctx], write=True)


def _drain(feed: TrytonInvoiceFeed, cursor: str | None) -> tuple[list[ExternalRecord], str | None]:
    records: list[ExternalRecord] = []
    for _ in range(50):
        page = feed.changes_since("invoice", cursor)
        records.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            break
    return records, cursor


def test_posted_invoices_are_captured_and_payment_is_a_change(
        tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    main = tryton_server.meta.companies[0]
    party = make_party(connector)
    feed = TrytonInvoiceFeed(connector.client, main.id, page_size=2)
    _, start = _drain(feed, None)  # whatever the module's other tests posted
    draft_invoice(connector, main, party, Decimal("999.00"), tryton_server.meta.payment_term)
    due_now = posted_invoice(connector, tryton_server, main, party, Decimal("300.00"))
    later = posted_invoice(connector, tryton_server, main, party, Decimal("120.50"), net_30(connector.client))

    records, cursor = _drain(feed, start)
    assert [r.id for r in records] == [str(due_now), str(later)]  # the draft is no receivable
    first = records[0].fields
    today = date.today()
    assert {k: first[k] for k in ("party", "currency", "total_amount", "amount_to_pay", "state", "due_date",
                                  "posted_date", "source_system")} == {
        "party": str(party), "currency": main.currency_code, "total_amount": "300.00", "amount_to_pay": "300.00",
        "state": "posted", "due_date": today.isoformat(), "posted_date": today.isoformat(),
        "source_system": "tryton"}
    assert first["number"] and records[1].fields["due_date"] == (today + timedelta(days=30)).isoformat()
    assert records[0].modified_at is not None

    pay_invoice(connector.client, main, due_now)
    paid, _ = _drain(feed, cursor)
    assert [(r.id, r.fields["state"], r.fields["amount_to_pay"]) for r in paid] == [(str(due_now), "paid", "0")]
    assert [r.id for r in feed.search("invoice", {"party": party})] == [str(due_now), str(later)]


def test_overdue_is_read_against_the_injected_day(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    main = tryton_server.meta.companies[0]
    invoice = posted_invoice(connector, tryton_server, main, make_party(connector), Decimal("80.00"))
    today = TrytonInvoiceFeed(connector.client, main.id).read("invoice", str(invoice))
    tomorrow = TrytonInvoiceFeed(connector.client, main.id, today=lambda: date.today() + timedelta(days=1))
    late = tomorrow.read("invoice", str(invoice))
    assert today is not None and today.fields["state"] == "posted"
    assert late is not None and late.fields["state"] == "overdue"
    assert tomorrow.read("invoice", "nope") is None and tomorrow.read("invoice", "999999") is None


def test_feed_is_read_only_and_scoped(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    europe = tryton_server.meta.companies[1]
    feed = TrytonInvoiceFeed(connector.client, europe.id)
    assert _drain(feed, None)[0] == []  # the other company's invoices are not this feed's
    with pytest.raises(DataRejected, match="posted in ERP"):
        feed.update("invoice", "1", {"state": "paid"})
    with pytest.raises(DataRejected, match="cannot search invoices by 'state'"):
        feed.search("invoice", {"state": "paid"})
    with pytest.raises(DataRejected, match="party must be a Tryton party id") as caught:
        feed.search("invoice", {"party": "ACME"})
    assert caught.value.field == "party"


def test_a_connections_file_feed_captures_posted_invoices_as_tryton(
        tryton_server: TrytonServer, connector: TrytonConnector, runtime: Runtime, engine: Engine,
        ingest: IngestService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`erp_invoices: {connector: tryton_invoices, system: tryton}` (decision 049): its own entry and cursor, its
    invoices mapped and bound as Tryton's, so the party resolves to the account Tryton's binding names."""
    main = tryton_server.meta.companies[0]
    party = make_party(connector)
    account = ok(ingest.ingest([change("tryton", str(party), {"name": "Feed Co"})])[0]).canonical_id
    monkeypatch.setenv("TEST_TRYTON_PASSWORD", tryton_server.admin_password)
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": {"erp_invoices": {
        "connector": "tryton_invoices", "system": "tryton",
        "config": {"url": tryton_server.url, "database": tryton_server.db, "user": tryton_server.admin_login,
                   "password_ref": "env:TEST_TRYTON_PASSWORD", "company_id": main.id},
        "capture": [{"object": "invoice", "entity": "invoice", "every_s": 0.1}]}}}), encoding="utf-8")
    plan = plan_sync(path, runtime)
    assert isinstance(plan.targets.default["erp_invoices"], TrytonInvoiceFeed)
    with hosted_sync(plan, engine, ingest, idle_s=0.1) as loop:
        eventually(lambda: DeliveryStore(engine).has_cursor("default", "erp_invoices", "invoice"))
        invoice = posted_invoice(connector, tryton_server, main, party, Decimal("300.00"))
        [posted] = eventually(lambda: events_of(engine, "InvoicePosted"))
        assert posted.customer_key == account
        with engine.connect() as conn:
            assert queries.canonical_for(conn, "default", "tryton", "invoice", str(invoice)) \
                == posted.data["canonical_id"]
        pay_invoice(connector.client, main, invoice)
        updated = eventually(lambda: [e for e in events_of(engine, "InvoiceUpdated") if "status" in e.data["changes"]])
        assert updated[0].data["changes"]["status"]["after"] == "paid"
        assert all(p.failures == 0 for p in loop.pollers)
