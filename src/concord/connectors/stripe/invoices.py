"""Read-only capture of Stripe invoices keyed to Concord's customer, as object "invoice".

A Stripe invoice names its Stripe customer; Concord's customer is the account that customer was provisioned
for (onboarding writes the account's id into the Stripe customer's `metadata.concord_id`). The feed adds it as
`customer_account`, so the canonical invoice carries its account and its events are ordered and routed with
that customer. Each customer is read once per page.

Drafts are skipped: a draft is no receivable and Stripe may still delete it; its `invoice.finalized` event
reports it later. `uncollectible` is reported as `void` (written off: nothing is expected to be paid), an open
invoice past its `due_date` when read as `overdue` (as `StripeConnector.receivables` counts it), and
`finalized_at` (from `status_transitions`) is the day it was posted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from concord.connectors.base import Capabilities, ChangePage, ExternalRecord
from concord.connectors.runtime.readonly import ReadOnlyFeed
from concord.connectors.stripe.config import SYSTEM
from concord.connectors.stripe.resources import StripeConnector

OBJECT = "invoice"
ACCOUNT_METADATA = "concord_id"
_STATUS = {"open": "open", "paid": "paid", "void": "void", "uncollectible": "void"}


def invoice_fields(fields: dict[str, Any], account: str | None, now: float) -> dict[str, Any]:
    """The feed's flat fields for one projected invoice at unix time `now` (pure)."""
    transitions = fields.get("status_transitions") or {}
    rest = {k: v for k, v in fields.items() if k != "status_transitions"}
    status = _STATUS.get(str(fields.get("status")), fields.get("status"))
    due = fields.get("due_date")
    if status == "open" and isinstance(due, int | float) and due < now and (fields.get("amount_remaining") or 0) > 0:
        status = "overdue"
    return {**rest, "status": status,
            "customer_account": account, "finalized_at": transitions.get("finalized_at"), "source_system": SYSTEM}


class StripeInvoiceFeed(ReadOnlyFeed):
    """The Connector protocol for object "invoice", reads only, over a StripeConnector."""

    name = SYSTEM
    object_name = OBJECT
    read_only_reason = "invoices are issued by Stripe Billing, never written by Concord"

    def __init__(self, connector: StripeConnector, now: Callable[[], datetime] | None = None) -> None:
        self.connector = connector
        self._now = now or (lambda: datetime.now(UTC))
        self.capabilities = Capabilities(objects=(OBJECT,), cursor_field="created",
                                         rate_limit=connector.capabilities.rate_limit,
                                         change_time_resolution_s=connector.capabilities.change_time_resolution_s)

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]:
        self._check(obj)
        return self._enrich(self.connector.search(obj, criteria, limit))

    def read(self, obj: str, record_id: str) -> ExternalRecord | None:
        self._check(obj)
        found = self.connector.read(obj, record_id)
        enriched = [] if found is None else self._enrich([found])
        return enriched[0] if enriched else None

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        self._check(obj)
        page = self.connector.changes_since(obj, cursor)
        return page.model_copy(update={"records": self._enrich(page.records)})

    def _enrich(self, records: list[ExternalRecord]) -> list[ExternalRecord]:
        accounts: dict[str, str | None] = {}
        now = self._now().timestamp()
        out = []
        for record in records:
            if record.deleted or record.fields.get("status") == "draft":
                continue
            customer = record.fields.get("customer")
            if isinstance(customer, str) and customer not in accounts:
                accounts[customer] = self._account_of(customer)
            account = accounts.get(customer) if isinstance(customer, str) else None
            out.append(record.model_copy(update={"fields": invoice_fields(record.fields, account, now)}))
        return out

    def _account_of(self, customer: str) -> str | None:
        found = self.connector.read("customer", customer)
        metadata = (found.fields.get("metadata") or {}) if found is not None else {}
        value = metadata.get(ACCOUNT_METADATA)
        return str(value) if value else None
