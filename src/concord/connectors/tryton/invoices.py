"""Read-only capture of Tryton customer invoices (`account.invoice`, type "out") as object "invoice".

Only invoices ERP has numbered are reported: posted, paid, and cancelled after posting. A draft is not a
receivable yet, and Concord never writes invoices (ERP posts them). One invoice travels as a flat dict:

    party            the customer's party id (the canonical account's Tryton binding)
    number           the invoice number Tryton gave it at posting
    currency         ISO code
    total_amount     decimal string, tax included
    amount_to_pay    decimal string, what is still unpaid ("0" once paid)
    due_date         ISO date: the earliest maturity of the invoice's receivable lines
    state            posted | overdue | paid | cancelled (overdue: posted, unpaid and past its due date on the
                     day it is read — Tryton has no such state; the read model also derives it from due_date)
    posted_date      ISO date the accounting move was posted
    source_system    "tryton"
    company, invoice_date

Change capture follows the party feed: the cursor is "<write_date ISO>|<id>", and paying an invoice (its
reconciliation) writes the invoice, so a payment is seen as a change of the invoice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from concord.connectors.base import Capabilities, ChangePage, DataRejected, ExternalRecord
from concord.connectors.runtime.readonly import ReadOnlyFeed
from concord.connectors.tryton.client import RpcIn, RpcOut, TrytonClient
from concord.connectors.tryton.config import SYSTEM
from concord.connectors.tryton.objects import cursor_domain, int_id, nested_of, row_modified, rows_of

OBJECT = "invoice"
INVOICE = "account.invoice"
REPORTED_STATES = ("posted", "paid", "cancelled")
_READ = ["number", "state", "party", "company", "currency.code", "total_amount", "amount_to_pay", "invoice_date",
         "move.post_date", "lines_to_pay.maturity_date", "write_date", "create_date"]
_SEARCH_KEYS = frozenset({"number", "party"})


def _positive(value: RpcOut) -> bool:
    return isinstance(value, Decimal | int | float) and value > 0


def _iso(value: RpcOut) -> str | None:
    return value.isoformat() if isinstance(value, date | datetime) else None


def flatten_invoice(row: Mapping[str, RpcOut], today: date) -> dict[str, Any]:
    """The documented flat field dict of one `search_read` row (see the module docstring)."""
    maturities = [m for m in (line.get("maturity_date") for line in rows_of(row.get("lines_to_pay.")))
                  if isinstance(m, date)]
    due = min(maturities) if maturities else None
    state = row.get("state")
    if state == "posted" and due is not None and due < today and _positive(row.get("amount_to_pay")):
        state = "overdue"
    return {
        "party": None if row.get("party") is None else str(row.get("party")),
        "company": row.get("company"),
        "number": row.get("number"),
        "currency": nested_of(row, "currency").get("code"),
        "total_amount": str(row.get("total_amount") or 0),
        "amount_to_pay": str(row.get("amount_to_pay") or 0),
        "due_date": None if due is None else due.isoformat(),
        "state": state,
        "posted_date": _iso(nested_of(row, "move").get("post_date")),
        "invoice_date": _iso(row.get("invoice_date")),
        "source_system": SYSTEM,
    }


class TrytonInvoiceFeed(ReadOnlyFeed):
    """The Connector protocol for object "invoice", reads only, over a connector's JSON-RPC client."""

    name = SYSTEM
    object_name = OBJECT
    read_only_reason = "invoices are posted in ERP, never written by Concord"

    def __init__(self, client: TrytonClient, company_id: int, page_size: int = 100,
                 today: Callable[[], date] = date.today) -> None:
        self.client = client
        self.company_id = company_id
        self.page_size = page_size
        self._today = today
        self.capabilities = Capabilities(objects=(OBJECT,), cursor_field="write_date",
                                         change_time_resolution_s=0.000001)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        self._check(obj)
        unknown = sorted(set(criteria) - _SEARCH_KEYS)
        if unknown:
            raise DataRejected(SYSTEM, f"cannot search invoices by {unknown[0]!r}", field=unknown[0],
                               code="unknown_field")
        if "party" in criteria and not str(criteria["party"]).isdigit():
            raise DataRejected(SYSTEM, f"party must be a Tryton party id, got {criteria['party']!r}", field="party")
        domain: list[RpcIn] = [(key, "=", int(value) if key == "party" else str(value))
                               for key, value in criteria.items()]
        return self._records(domain, limit, [("id", "ASC")])

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._check(obj)
        if not record_id.isdigit():
            return None
        found = self._records([("id", "=", int(record_id))], 1, None)
        return found[0] if found else None

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        """Reported invoices written after `cursor`, oldest first ((write_date, id) is a total order)."""
        self._check(obj)
        size = self.page_size
        rows = self._rows(cursor_domain(cursor), size + 1, [("write_date", "ASC"), ("id", "ASC")])
        page = rows[:size]
        next_cursor = cursor
        if page:
            stamp = page[-1].get("write_date") or page[-1].get("create_date")
            naive = stamp if isinstance(stamp, datetime) else datetime.min
            next_cursor = f"{naive.isoformat()}|{int_id(page[-1].get('id'))}"
        return ChangePage(records=[self._record(r) for r in page], cursor=next_cursor, has_more=len(rows) > size)

    # -- internals --------------------------------------------------------------------------------------
    def _rows(self, domain: list[RpcIn], limit: int, order: list[tuple[str, str]] | None) -> list[dict[str, RpcOut]]:
        scope: list[RpcIn] = [("type", "=", "out"), ("company", "=", self.company_id),
                              ("state", "in", list(REPORTED_STATES)), ("number", "!=", None)]
        full: list[RpcIn] = [*scope, domain] if domain else scope
        return self.client.search_read(INVOICE, full, _READ, limit=limit, order=order,
                                       context={"company": self.company_id})

    def _records(self, domain: list[RpcIn], limit: int, order: list[tuple[str, str]] | None) -> list[ExternalRecord]:
        return [self._record(row) for row in self._rows(domain, limit, order)]

    def _record(self, row: Mapping[str, RpcOut]) -> ExternalRecord:
        return ExternalRecord(object=OBJECT, id=str(row.get("id")), fields=flatten_invoice(row, self._today()),
                              modified_at=row_modified(row))
