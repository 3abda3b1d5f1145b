"""Stripe's objects as Concord reads them: which fields of each are kept (projections), which events report
them, and records built from an object or an event. Pure: no client, no I/O (the connector in `resources`
and the webhook receiver both use it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from concord.connectors.base import ExternalRecord
from concord.connectors.stripe.client import FormValue

OBJECTS = ("customer", "subscription", "invoice")
_CUSTOMER_KEYS = ("id", "object", "created", "livemode", "name", "email", "phone", "description", "currency",
                  "address", "shipping", "metadata", "balance", "delinquent", "invoice_prefix", "invoice_settings",
                  "tax_exempt", "preferred_locales", "default_source")
_SUBSCRIPTION_KEYS = ("id", "object", "created", "livemode", "customer", "status", "cancel_at_period_end",
                      "start_date", "metadata", "items")
_INVOICE_KEYS = ("id", "object", "created", "livemode", "customer", "status", "number", "currency", "total",
                 "amount_due", "amount_paid", "amount_remaining", "due_date", "collection_method", "attempt_count",
                 "metadata", "status_transitions")
_MONTHS_PER_INTERVAL = {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "year": 12.0}


def _pick(obj: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: obj[key] for key in keys if key in obj}


def project_customer(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _pick(obj, _CUSTOMER_KEYS)


def items_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = (obj.get("items") or {}).get("data") or []
    return [item for item in items if isinstance(item, dict)]


def _monthly_cents(items: list[dict[str, Any]]) -> int:
    total = 0.0
    for item in items:
        price = item.get("price") or {}
        recurring = price.get("recurring") or {}
        months = _MONTHS_PER_INTERVAL.get(str(recurring.get("interval")), 1.0) * (recurring.get("interval_count") or 1)
        total += (price.get("unit_amount") or 0) * (item.get("quantity") or 0) / months
    return round(total)


def project_subscription(obj: Mapping[str, Any]) -> dict[str, Any]:
    fields = _pick(obj, _SUBSCRIPTION_KEYS)
    items = items_of(obj)
    first = items[0] if items else {}
    fields["plan_price"] = (first.get("price") or {}).get("id")
    fields["quantity"] = first.get("quantity")
    fields["current_period_end"] = first.get("current_period_end", obj.get("current_period_end"))
    fields["monthly_amount_cents"] = _monthly_cents(items)
    return fields


def project_invoice(obj: Mapping[str, Any]) -> dict[str, Any]:
    fields = _pick(obj, _INVOICE_KEYS)
    # Since API 2025-03-31 the subscription sits under `parent.subscription_details`; before, at the top.
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    fields["subscription"] = details.get("subscription", obj.get("subscription"))
    return fields


@dataclass(frozen=True)
class ObjectSpec:
    """How one Concord object maps onto Stripe's endpoints and event types."""

    path: str
    project: Callable[[Mapping[str, Any]], dict[str, Any]]
    event_types: tuple[str, ...]
    deleted_types: tuple[str, ...]
    list_params: Mapping[str, FormValue]
    list_filters: frozenset[str]  # exact-match list parameters: consistent at once, unlike search
    search_fields: frozenset[str]  # Search Query Language fields (metadata.* always allowed)
    writable: bool


SPECS: dict[str, ObjectSpec] = {
    "customer": ObjectSpec(
        "/v1/customers", project_customer, ("customer.created", "customer.updated", "customer.deleted"),
        ("customer.deleted",), {}, frozenset({"email"}), frozenset({"email", "name", "phone", "created"}), True),
    "subscription": ObjectSpec(
        "/v1/subscriptions", project_subscription,
        ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
         "customer.subscription.paused", "customer.subscription.resumed"),
        (), {"status": "all"}, frozenset({"customer", "status", "price"}), frozenset({"status", "created"}), True),
    "invoice": ObjectSpec(
        "/v1/invoices", project_invoice,
        ("invoice.created", "invoice.updated", "invoice.deleted", "invoice.finalized", "invoice.paid",
         "invoice.payment_succeeded", "invoice.payment_failed", "invoice.overdue", "invoice.voided",
         "invoice.marked_uncollectible"),
        ("invoice.deleted",), {}, frozenset({"customer", "status", "subscription"}),
        frozenset({"customer", "status", "number", "total", "currency", "created", "subscription"}), False),
}
EVENT_OBJECTS: dict[str, str] = {event: name for name, spec in SPECS.items() for event in spec.event_types}


def _stamp(seconds: object) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if isinstance(seconds, int | float) else None


def to_record(obj_name: str, obj: Mapping[str, Any], modified: object = None, deleted: bool = False,
              version: str | None = None) -> ExternalRecord:
    fields = SPECS[obj_name].project(obj)
    deleted = deleted or bool(obj.get("deleted"))
    if deleted:
        fields["deleted"] = True
    return ExternalRecord(object=obj_name, id=str(obj["id"]), fields=fields, modified_at=_stamp(modified),
                          deleted=deleted, version=version)


def record_from_event(event: Mapping[str, Any]) -> ExternalRecord | None:
    """The record an event reports (its `data.object` snapshot), or None for event types Concord ignores."""
    obj_name = EVENT_OBJECTS.get(str(event.get("type")))
    snapshot = (event.get("data") or {}).get("object")
    if obj_name is None or not isinstance(snapshot, dict) or "id" not in snapshot:
        return None
    deleted = event.get("type") in SPECS[obj_name].deleted_types
    # `created` is to the second; the event id is what tells two same-second changes apart (decision 079).
    event_id = event.get("id")
    return to_record(obj_name, snapshot, modified=event.get("created"), deleted=deleted,
                     version=None if event_id is None else str(event_id))
