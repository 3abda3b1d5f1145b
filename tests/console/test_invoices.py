"""Open invoices of a customer: the pure read model, the experience API and the customer 360's invoice table."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from concord.console.invoices import open_invoices
from concord.storage import tables as t
from concord.views import GoldenRecordPublic
from tests.console.conftest import OpsRun
from tests.console.scenario import BLOCKED_CUSTOMER, BROKEN_CUSTOMER

TODAY = date(2026, 12, 6)


def _invoice(rid: str, **record: Any) -> GoldenRecordPublic:
    return GoldenRecordPublic(id=rid, tenant="default", entity="invoice", version=1, record=record, fields={},
                              bindings=[])


def test_open_invoices_are_the_live_receivables_earliest_due_first() -> None:
    records = [
        _invoice("a", number="A", status="open", amount_due="300", amount_total="300", due_date="2026-12-31"),
        _invoice("b", number="B", status="open", amount_due="80", amount_total="100", due_date="2026-12-05",
                 currency="EUR", source_system="tryton"),
        _invoice("c", number="C", status="paid", amount_due="0", amount_total="50", due_date="2026-11-01"),
        _invoice("d", number="D", status="void", amount_due="40", due_date="2026-11-01"),
        _invoice("e", number="E", status="overdue", amount_due="10", due_date="2026-12-20"),  # the source said so
        _invoice("f", number="F", status="open", amount_due="0", due_date="2026-12-01"),  # nothing left to pay
        _invoice("g", number="G", status="open", amount_total="70"),  # no due date, no amount due yet: total
        _invoice("h", number="H", status="open", amount_due="5", due_date="2026-12-06"),  # due today: not late
    ]
    found = open_invoices(records, TODAY)
    assert [(i.number, i.amount_due, i.due_date, i.overdue) for i in found] == [
        ("B", "80", date(2026, 12, 5), True), ("H", "5", TODAY, False), ("E", "10", date(2026, 12, 20), True),
        ("A", "300", date(2026, 12, 31), False), ("G", "70", None, False)]
    assert (found[0].currency, found[0].source_system, found[0].amount_total) == ("EUR", "tryton", "100")


def _tryton_customer(ops_run: OpsRun) -> tuple[str, str]:
    """A demo customer bound to a Tryton party that no other test of the module reads: (customer, party)."""
    b = t.bindings.c
    with ops_run.engine.connect() as conn:
        rows = conn.execute(select(b.canonical_id, b.external_id).where(b.system == "tryton", b.entity == "account")
                            .order_by(b.canonical_id)).all()
    busy = {BLOCKED_CUSTOMER, BROKEN_CUSTOMER, "cus_0010"}
    customer, party = next((r.canonical_id, r.external_id) for r in rows if r.canonical_id not in busy)
    return str(customer), str(party)


def _post(ops_run: OpsRun, party: str, invoice_id: str, state: str, due: str, to_pay: str) -> None:
    fields = {"party": party, "number": f"INV-{invoice_id}", "currency": "EUR", "total_amount": "100.00",
              "amount_to_pay": to_pay, "due_date": due, "state": state, "posted_date": "2026-11-01",
              "source_system": "tryton", "company": 1, "invoice_date": "2026-11-01"}
    change = {"system": "tryton", "entity": "invoice", "external_id": invoice_id, "fields": fields,
              "source_ts": "2026-11-02T10:00:00+00:00", "idempotency_key": f"inv-{invoice_id}-{state}"}
    response = ops_run.client.post("/api/v1/changes/batch", json={"changes": [change]})
    assert response.status_code == 202 and response.json()["results"][0]["result"], response.text


def test_experience_api_and_customer_360_list_open_invoices(ops_run: OpsRun) -> None:
    customer, party = _tryton_customer(ops_run)
    url = f"/api/v1/experience/customers/{customer}"
    before = ops_run.client.get(url)
    assert before.status_code == 200 and before.json()["open_invoices"] == []
    _post(ops_run, party, "9001", "posted", "2099-01-31", "100.00")
    _post(ops_run, party, "9002", "posted", "2020-01-31", "40.00")  # long past due: overdue by the clock
    _post(ops_run, party, "9003", "paid", "2020-01-31", "0")

    after = ops_run.client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # a new invoice is a new read model
    listed = [{k: i[k] for k in ("number", "amount_due", "due_date", "overdue", "source_system")}
              for i in after.json()["open_invoices"]]
    assert listed == [
        {"number": "INV-9002", "amount_due": "40", "due_date": "2020-01-31", "overdue": True,
         "source_system": "tryton"},
        {"number": "INV-9001", "amount_due": "100", "due_date": "2099-01-31", "overdue": False,
         "source_system": "tryton"}]

    page = ops_run.client.get(f"/console/customers/{customer}")
    assert page.status_code == 200
    table = page.text.split('<table id="invoices">', 1)[1].split("</table>", 1)[0]
    assert table.index("INV-9002") < table.index("INV-9001") and "INV-9003" not in table
    assert table.count('class="overdue"') == 1 and "40 EUR" in table
