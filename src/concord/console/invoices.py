"""Open invoices of a customer as sales and partners read them (pure): from the golden invoice records.

Open means a live receivable: status open or overdue with something still due. Overdue is read against the
clock (`today`), not only from the source's status: an open invoice past its due date is overdue even before
any system reports it so.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from concord.views import GoldenRecordPublic

OPEN_STATUSES = frozenset({"open", "overdue"})


class OpenInvoicePublic(BaseModel):
    id: str
    number: str | None
    source_system: str | None
    currency: str | None
    amount_total: str | None
    amount_due: str
    due_date: date | None
    overdue: bool


def _due(record: dict[str, Any]) -> Decimal:
    raw = record.get("amount_due")
    return Decimal(str(raw)) if raw is not None else Decimal(str(record.get("amount_total") or 0))


def open_invoices(invoices: list[GoldenRecordPublic], today: date) -> list[OpenInvoicePublic]:
    """The open invoices, earliest due first (undated last), each with its overdue flag."""
    out = []
    for inv in invoices:
        r = inv.record
        due = _due(r)
        if r.get("status") not in OPEN_STATUSES or due <= 0:
            continue
        due_date = date.fromisoformat(r["due_date"]) if r.get("due_date") else None
        overdue = r.get("status") == "overdue" or (due_date is not None and due_date < today)
        out.append(OpenInvoicePublic(
            id=inv.id, number=r.get("number"), source_system=r.get("source_system"), currency=r.get("currency"),
            amount_total=None if r.get("amount_total") is None else str(r["amount_total"]), amount_due=str(due),
            due_date=due_date, overdue=overdue))
    return sorted(out, key=lambda i: (i.due_date is None, i.due_date or date.max, i.number or ""))
