"""The credit side against a real trytond: per-company credit limits, receivables from posted invoices, and
sales/subscriptions listed per party. The module starts from a reset copy of the template."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from concord.connectors.tryton import TrytonConnector, TrytonWarning
from concord.connectors.tryton.client import RpcIn, TrytonClient
from concord.sandbox.tryton import CompanyInfo, TrytonServer
from tests.connectors.tryton.support import connector_config

pytestmark = pytest.mark.tryton

def make_party(conn: TrytonConnector, **fields: str) -> int:
    record = conn.create("party", {"name": "Credit Test Co", "address.city": "Paris", "address.country": "FR",
                                   **fields}, idempotency_key=f"cr-{uuid.uuid4().hex[:10]}")
    return int(record.id)


def post_with_confirmation(client: TrytonClient, invoice_id: int, context: dict[str, RpcIn]) -> None:
    """Post as a clerk would: confirm each warning Tryton raises (past payment date, ...) and post again."""
    for _ in range(5):
        try:
            client.button("account.invoice", "post", [invoice_id], context)
            return
        except TrytonWarning as warning:
            client.acknowledge_warning(warning)
    raise AssertionError("invoice still not posted after confirming five warnings")


def net_30(client: TrytonClient) -> int:
    term, = client.create("account.invoice.payment_term", [{
        "name": f"Net 30 {uuid.uuid4().hex[:6]}",
        "lines": [["create", [{"type": "remainder", "relativedeltas": [["create", [{"days": 30}]]]}]]],
    }])
    return term


def draft_invoice(conn: TrytonConnector, company: CompanyInfo, party_id: int, amount: Decimal,
                  payment_term: int) -> int:
    """A draft customer invoice dated today. Over the API, account/journal/address must be given explicitly.

    Always today: Tryton numbers customer invoices chronologically per sequence and refuses to number one
    dated before an already numbered one, so back-dated invoices would make the tests order-dependent.
    """
    client = conn.client
    address, = client.search("party.address", [("party", "=", party_id)], limit=1)
    values: dict[str, RpcIn] = {
        "type": "out", "company": company.id, "party": party_id, "invoice_address": address,
        "currency": company.currency, "account": company.accounts.receivable,
        "journal": company.accounts.revenue_journal, "payment_term": payment_term, "invoice_date": date.today(),
        "lines": [["create", [{"type": "line", "account": company.accounts.revenue, "description": "Consulting",
                               "quantity": 1.0, "unit_price": amount}]]],
    }
    invoice_id, = client.create("account.invoice", [values], {"company": company.id})
    return invoice_id


def posted_invoice(conn: TrytonConnector, server: TrytonServer, company: CompanyInfo, party_id: int,
                   amount: Decimal, payment_term: int | None = None) -> int:
    invoice_id = draft_invoice(conn, company, party_id, amount, payment_term or server.meta.payment_term)
    post_with_confirmation(conn.client, invoice_id, {"company": company.id})
    return invoice_id


def test_credit_limit_is_per_company(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    main, europe = tryton_server.meta.companies
    party_id = make_party(connector)
    assert connector.get_credit_limit(party_id) is None
    connector.set_credit_limit(party_id, Decimal("5000.00"))
    connector.set_credit_limit(party_id, Decimal("750.00"), company_id=europe.id)
    assert connector.get_credit_limit(party_id) == Decimal("5000.00")
    assert connector.get_credit_limit(party_id, company_id=europe.id) == Decimal("750.00")
    record = connector.read("party", str(party_id))
    assert record is not None and record.fields["credit_limit_amount"] == "5000.00"
    connector.set_credit_limit(party_id, None, company_id=main.id)
    assert connector.get_credit_limit(party_id) is None
    assert connector.get_credit_limit(party_id, company_id=europe.id) == Decimal("750.00")


def test_posting_asks_for_confirmation_first(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    company = tryton_server.meta.companies[0]
    # An EU VAT number nobody checked against VIES makes Tryton warn before it posts.
    party_id = make_party(connector, **{"tax_identifier.type": "eu_vat", "tax_identifier.code": "BE0897290877"})
    invoice_id = draft_invoice(connector, company, party_id, Decimal("10.00"), tryton_server.meta.payment_term)
    with pytest.raises(TrytonWarning) as caught:
        connector.client.button("account.invoice", "post", [invoice_id])
    assert "BE0897290877" in caught.value.message
    connector.client.acknowledge_warning(caught.value)
    connector.client.button("account.invoice", "post", [invoice_id])
    state, = connector.client.read("account.invoice", [invoice_id], ["state", "number"])
    assert state["state"] == "posted" and state["number"]


def test_receivables_after_posting_invoices(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    main, europe = tryton_server.meta.companies
    party_id = make_party(connector)
    assert connector.get_receivables(party_id).receivable == 0
    due_now = posted_invoice(connector, tryton_server, main, party_id, Decimal("300.00"))
    posted_invoice(connector, tryton_server, main, party_id, Decimal("120.50"), net_30(connector.client))
    draft_invoice(connector, main, party_id, Decimal("999.00"), tryton_server.meta.payment_term)

    receivables = connector.get_receivables(party_id)
    assert receivables.company_id == main.id
    assert receivables.receivable == Decimal("420.50")  # the draft does not count
    assert receivables.payable == 0
    assert receivables.receivable_today == Decimal("300.00")  # the net-30 one is not due yet
    assert receivables.overdue == 0  # due today is not overdue yet
    assert [(i.total, i.amount_to_pay) for i in receivables.open_invoices] == [
        (Decimal("300.00"), Decimal("300.00")), (Decimal("120.50"), Decimal("120.50"))
    ]
    assert receivables.open_invoices[0].id == due_now and receivables.open_invoices[0].number

    elsewhere = connector.get_receivables(party_id, company_id=europe.id)
    assert (elsewhere.receivable, elsewhere.overdue, elsewhere.open_invoices) == (Decimal(0), Decimal(0), [])


def test_overdue_follows_the_injected_date(tryton_server: TrytonServer, connector: TrytonConnector) -> None:
    main = tryton_server.meta.companies[0]
    party_id = make_party(connector)
    posted_invoice(connector, tryton_server, main, party_id, Decimal("80.00"))
    posted_invoice(connector, tryton_server, main, party_id, Decimal("20.00"), net_30(connector.client))

    clock = [date.today()]
    later = TrytonConnector(connector_config(tryton_server), today=lambda: clock[0])
    try:
        assert later.get_receivables(party_id).overdue == 0
        clock[0] = date.today() + timedelta(days=1)
        assert later.get_receivables(party_id).overdue == Decimal("80.00")
        clock[0] = date.today() + timedelta(days=31)
        assert later.get_receivables(party_id).overdue == Decimal("100.00")
    finally:
        later.close()


def test_sales_and_subscriptions_are_listed_per_party(
    tryton_server: TrytonServer, connector: TrytonConnector
) -> None:
    main = tryton_server.meta.companies[0]
    party_id, other_id = make_party(connector), make_party(connector)
    client = connector.client
    sale, = client.create("sale.sale", [{"party": party_id, "company": main.id, "currency": main.currency,
                                         "description": "Pilot"}])
    rule_set, = client.create("sale.subscription.recurrence.rule.set", [
        {"name": "Monthly", "rules": [["create", [{"freq": "monthly", "interval": 1}]]]}
    ])
    start = date.today()
    subscription, = client.create("sale.subscription", [
        {"party": party_id, "company": main.id, "currency": main.currency, "start_date": start,
         "invoice_recurrence": rule_set}
    ])
    sales = connector.list_sales(party_id)
    assert [(s.id, s.state, s.currency) for s in sales] == [(sale, "draft", main.currency_code)]
    subscriptions = connector.list_subscriptions(party_id)
    assert [(s.id, s.state, s.start_date) for s in subscriptions] == [(subscription, "draft", start)]
    assert connector.list_sales(other_id) == [] and connector.list_subscriptions(other_id) == []
