"""Sale orders in Tryton: the order a contract activation carries, created and confirmed exactly once.

Wire facts (trytond 8.2, `sale` module; see shared notes on Tryton):
- `sale.sale.create` needs `party`, `company`, `currency` and, over the API, `invoice_address` and
  `shipment_address` explicitly (the desktop client fills them in; the server does not);
- a comment line (`type: comment`) is enough to quote and confirm an order without products or stock;
- the buttons `quote` then `confirm` move draft → quotation → confirmed (then `processing`, `done` on their own);
- the order `reference` is free text we own: it carries Concord's idempotency key, so a retried create (a lost
  answer, a crashed worker) finds the first order instead of making a second one.
"""

from __future__ import annotations

from decimal import Decimal

from concord.connectors.base import DataRejected
from concord.connectors.tryton.client import RpcIn, RpcOut, TrytonClient, flatten_dotted
from concord.connectors.tryton.config import SYSTEM
from concord.connectors.tryton.objects import SaleSummary

SALE = "sale.sale"
SUMMARY_FIELDS = ["number", "state", "sale_date", "total_amount", "currency.code", "reference"]
# A confirmed order Tryton moves on by itself (an order of comment lines only is `done` at once): all are live.
CONFIRMED_STATES = frozenset({"confirmed", "processing", "done"})
# Buttons still to press from each state to reach a confirmed order.
_TO_CONFIRM = {"draft": ("quote", "confirm"), "quotation": ("confirm",)}


def find_by_reference(client: TrytonClient, reference: str, company: int) -> SaleSummary | None:
    rows = client.search_read(SALE, [("reference", "=", reference), ("company", "=", company)], SUMMARY_FIELDS,
                              limit=1, order=[("id", "ASC")], context={"company": company})
    return SaleSummary.model_validate(flatten_dotted(rows[0])) if rows else None


def _first_address(client: TrytonClient, party_id: int) -> int:
    found = client.search("party.address", [("party", "=", party_id)], limit=1, order=[("sequence", "ASC")])
    if not found:
        raise DataRejected(SYSTEM, f"party {party_id} has no address: an order needs one to invoice and ship to",
                           field="party", code="no_address")
    return found[0]


def _currency(client: TrytonClient, company: int) -> RpcOut:
    rows = client.read("company.company", [company], ["currency"])
    if not rows:
        raise DataRejected(SYSTEM, f"company {company} does not exist", field="company", code="unknown_company")
    return rows[0]["currency"]


def _create(client: TrytonClient, party_id: int, company: int, reference: str, description: str,
            lines: list[str]) -> int:
    address = _first_address(client, party_id)
    values: dict[str, RpcIn] = {
        "party": party_id, "company": company, "currency": _currency(client, company), "reference": reference,
        "invoice_address": address, "shipment_address": address, "description": description[:200],
        "lines": [["create", [{"type": "comment", "description": line} for line in lines or [description]]]]}
    created = client.create(SALE, [values], {"company": company})
    return created[0]


def place_confirmed_order(client: TrytonClient, party_id: int, company: int, reference: str, description: str,
                          lines: list[str]) -> SaleSummary:
    """The confirmed order with `reference`: found, or created; then quoted and confirmed as far as needed.
    Every call is safe to repeat (a crash between create and confirm resumes at the state the order is in)."""
    existing = find_by_reference(client, reference, company)
    if existing is None:
        _create(client, party_id, company, reference, description, lines)
        existing = find_by_reference(client, reference, company)
        assert existing is not None, "Tryton lost an order it just created"
    for button in _TO_CONFIRM.get(existing.state, ()):
        client.button(SALE, button, [existing.id], {"company": company})
    if existing.state in _TO_CONFIRM:
        existing = find_by_reference(client, reference, company)
        assert existing is not None
    return existing


def total_line(amount: Decimal | None, currency: str | None) -> str:
    """The deal's value as an order comment (a comment line carries no price: the order total stays 0)."""
    return "" if amount is None else f"Contract value {amount} {currency or ''}".strip()
