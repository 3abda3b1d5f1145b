"""Invoices: draft → open (finalized) → paid | void | uncollectible, with the events Stripe sends on the way.

Payment follows Stripe test mode: the invoice is charged to a payment method token, `pm_card_visa` and any
other token succeed, the documented decline tokens (`pm_card_chargeDeclined`, ...) fail with a card error.
A failed renewal makes the subscription `past_due`; a failed first invoice leaves it `incomplete`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from concord.sandbox.stripe.errors import StripeApiError
from concord.sandbox.stripe.store import StripeObject, StripeStore, new_id

DECLINES: dict[str, str] = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_visa_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "tok_chargeDeclined": "generic_decline",
}
NO_PAYMENT_METHOD = "no_payment_method"
RETRY_DELAY_S = 3 * 24 * 3600


@dataclass(frozen=True)
class LineSpec:
    amount: int
    quantity: int
    price: StripeObject
    subscription_item: str | None
    period: tuple[int, int]
    proration: bool = False
    description: str | None = None


def subscription_of(invoice: StripeObject) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription: str | None = details.get("subscription")
    return subscription


def _line_description(store: StripeStore, spec: LineSpec) -> str:
    """The caller's description, else the one Stripe writes: "2 x Pro (at $9.00 / month)"."""
    price = spec.price
    recurring = price.get("recurring") or {}
    product = store.get("product", price["product"]) or {"name": price["product"]}
    return spec.description or (
        f"{spec.quantity} x {product['name']} (at ${price['unit_amount'] / 100:.2f}"
        + (f" / {recurring['interval']})" if recurring else ")")
    )


def _line_parent(spec: LineSpec, subscription_id: str | None) -> StripeObject:
    """Every twin line is billed through a subscription item, so its parent always names one."""
    return {
        "type": "subscription_item_details",
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": None,
            "proration": spec.proration,
            "proration_details": {"credited_items": None},
            "subscription": subscription_id,
            "subscription_item": spec.subscription_item,
        },
    }


def _line(store: StripeStore, invoice_id: str, spec: LineSpec, subscription_id: str | None) -> StripeObject:
    price = spec.price
    description = _line_description(store, spec)
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": spec.amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": not spec.proration,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": _line_parent(spec, subscription_id),
        "period": {"start": spec.period[0], "end": spec.period[1]},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]},
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": spec.quantity,
        "taxes": [],
    }


def _parent(subscription: StripeObject | None) -> StripeObject | None:
    if subscription is None:
        return None
    return {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {"metadata": dict(subscription["metadata"]), "subscription": subscription["id"]},
    }


# Fields every new invoice starts with; the twin has no tax, discounts, shipping or hosted pages.
_DRAFT_DEFAULTS: StripeObject = {
    "object": "invoice",
    "account_country": "US",
    "account_name": "Concord Twin",
    "amount_overpaid": 0,
    "amount_paid": 0,
    "amount_shipping": 0,
    "attempt_count": 0,
    "attempted": False,
    "auto_advance": True,
    "automatic_tax": {"enabled": False, "liability": None, "status": None},
    "default_payment_method": None,
    "description": None,
    "due_date": None,
    "effective_at": None,
    "ending_balance": None,
    "hosted_invoice_url": None,
    "invoice_pdf": None,
    "last_finalization_error": None,
    "livemode": False,
    "metadata": {},
    "next_payment_attempt": None,
    "number": None,
    "starting_balance": 0,
    "status": "draft",
    "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
    "webhooks_delivered_at": None,
}


def _customer_snapshot(customer: StripeObject) -> StripeObject:
    """Invoices copy the customer's details as they were when the invoice was made."""
    fields = ("address", "email", "name", "phone", "shipping", "tax_exempt")
    return {"customer": customer["id"], **{f"customer_{key}": customer[key] for key in fields}}


def _amounts(total: int) -> StripeObject:
    keys = ("amount_due", "amount_remaining", "subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax")
    return dict.fromkeys(keys, total)


def create_invoice(
    store: StripeStore,
    customer: StripeObject,
    subscription: StripeObject | None,
    lines: list[LineSpec],
    billing_reason: str,
) -> StripeObject:
    """A draft invoice for `lines`; emits `invoice.created`."""
    invoice_id = new_id("in")
    items = [_line(store, invoice_id, spec, subscription["id"] if subscription else None) for spec in lines]
    periods = [spec.period for spec in lines] or [(store.now(), store.now())]
    invoice: StripeObject = {
        **copy.deepcopy(_DRAFT_DEFAULTS),
        **_amounts(max(sum(spec.amount for spec in lines), 0)),
        **_customer_snapshot(customer),
        "id": invoice_id,
        "billing_reason": billing_reason,
        "collection_method": subscription["collection_method"] if subscription else "charge_automatically",
        "created": store.now(),
        "currency": lines[0].price["currency"] if lines else (customer["currency"] or "usd"),
        "lines": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "parent": _parent(subscription),
        "period_end": max(end for _, end in periods),
        "period_start": min(start for start, _ in periods),
    }  # fmt: skip
    store.put("invoice", invoice)
    store.emit("invoice.created", invoice)
    return invoice


def finalize(store: StripeStore, invoice: StripeObject, days_until_due: int | None) -> None:
    """Draft → open: number it, set `due_date` for send_invoice collection; emits `invoice.finalized`."""
    customer = store.get("customer", invoice["customer"]) or {}
    now = store.now()
    with store.lock:
        sequence = customer.get("next_invoice_sequence", 1)
        customer["next_invoice_sequence"] = sequence + 1
        invoice["number"] = f"{customer.get('invoice_prefix', 'TWIN')}-{sequence:04d}"
        invoice["status"] = "open"
        invoice["effective_at"] = now
        invoice["status_transitions"]["finalized_at"] = now
        if invoice["collection_method"] == "send_invoice":
            invoice["due_date"] = now + 86400 * (days_until_due if days_until_due is not None else 30)
        if customer.get("currency") is None and customer:
            customer["currency"] = invoice["currency"]
    store.emit("invoice.finalized", invoice)


def payment_method_for(store: StripeStore, invoice: StripeObject, explicit: str | None = None) -> str | None:
    """Stripe's priority: the call's method, the subscription's default, the customer's invoice default."""
    if explicit:
        return explicit
    subscription_id = subscription_of(invoice)
    subscription = store.get("subscription", subscription_id) if subscription_id else None
    if subscription and subscription.get("default_payment_method"):
        return str(subscription["default_payment_method"])
    customer = store.get("customer", invoice["customer"]) or {}
    method = (customer.get("invoice_settings") or {}).get("default_payment_method") or customer.get("default_source")
    return str(method) if method else None


def charge(store: StripeStore, invoice: StripeObject, payment_method: str | None) -> str | None:
    """Try to collect an open invoice. Returns None when paid, else the decline (or missing-method) code."""
    if invoice["amount_remaining"] == 0:
        mark_paid(store, invoice)
        return None
    if payment_method is None:
        record_failure(store, invoice)
        return NO_PAYMENT_METHOD
    decline = DECLINES.get(payment_method)
    if decline:
        record_failure(store, invoice)
        return decline
    mark_paid(store, invoice)
    return None


def mark_paid(store: StripeStore, invoice: StripeObject, out_of_band: bool = False) -> None:
    now = store.now()
    with store.lock:
        paid = invoice["amount_remaining"]
        invoice.update(
            status="paid", amount_paid=invoice["amount_paid"] + paid, amount_remaining=0, next_payment_attempt=None
        )
        invoice["status_transitions"]["paid_at"] = now
        if paid and not out_of_band:
            invoice["attempted"] = True
            invoice["attempt_count"] += 1
    store.emit("invoice.paid", invoice)
    if not out_of_band:
        store.emit("invoice.payment_succeeded", invoice)
    _subscription_after_payment(store, invoice, paid=True)
    sync_delinquency(store, invoice["customer"])


def record_failure(store: StripeStore, invoice: StripeObject) -> None:
    with store.lock:
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        invoice["next_payment_attempt"] = store.now() + RETRY_DELAY_S
    store.emit("invoice.payment_failed", invoice)
    _subscription_after_payment(store, invoice, paid=False)
    sync_delinquency(store, invoice["customer"])


def _subscription_after_payment(store: StripeStore, invoice: StripeObject, paid: bool) -> None:
    subscription_id = subscription_of(invoice)
    subscription = store.get("subscription", subscription_id) if subscription_id else None
    if subscription is None:
        return
    status = subscription["status"]
    if paid and status in ("incomplete", "past_due", "unpaid"):
        set_subscription_status(store, subscription, "active")
    elif not paid and invoice["billing_reason"] != "subscription_create":
        set_subscription_status(store, subscription, "past_due")


def set_subscription_status(store: StripeStore, subscription: StripeObject, status: str) -> None:
    """Change a live subscription's status, announcing it; canceled subscriptions stay canceled."""
    previous = subscription["status"]
    if previous == status or previous == "canceled":
        return
    if status == "past_due" and previous not in ("active", "trialing"):
        return
    with store.lock:
        subscription["status"] = status
    store.emit("customer.subscription.updated", subscription, {"status": previous})


def mark_overdue(store: StripeStore, invoice: StripeObject) -> None:
    """Admin: the invoice's due date has passed unpaid. Stripe sends `invoice.overdue` and dunning starts."""
    require_open(invoice, "mark overdue")
    now = store.now()
    with store.lock:
        if invoice["due_date"] is None or invoice["due_date"] >= now:
            invoice["due_date"] = now - 1
    store.emit("invoice.overdue", invoice)
    subscription_id = subscription_of(invoice)
    subscription = store.get("subscription", subscription_id) if subscription_id else None
    if subscription is not None:
        set_subscription_status(store, subscription, "past_due")
    sync_delinquency(store, invoice["customer"])


def sync_delinquency(store: StripeStore, customer_id: str) -> None:
    """`delinquent` is true while the customer has an open invoice that failed a charge or is past due."""
    customer = store.get("customer", customer_id)
    if customer is None or customer.get("deleted"):
        return
    now = store.now()
    delinquent = any(
        invoice["customer"] == customer_id
        and invoice["status"] == "open"
        and (invoice["attempt_count"] > 0 or (invoice["due_date"] is not None and invoice["due_date"] < now))
        for invoice in store.newest_first("invoice")
    )
    if delinquent != customer["delinquent"]:
        with store.lock:
            customer["delinquent"] = delinquent
        store.emit("customer.updated", customer, {"delinquent": not delinquent})


def require_open(invoice: StripeObject, action: str, allowed: tuple[str, ...] = ("open",)) -> None:
    if invoice["status"] == "paid":
        raise StripeApiError(400, "Invoice is already paid.")
    if invoice["status"] not in allowed:
        raise StripeApiError(
            400, f"You can only {action} an open invoice. This invoice's status is {invoice['status']}."
        )


def transition(store: StripeStore, invoice: StripeObject, status: str, stamp: str, event: str) -> None:
    """open → void / uncollectible."""
    with store.lock:
        invoice["status"] = status
        invoice["status_transitions"][stamp] = store.now()
        invoice["next_payment_attempt"] = None
        if status == "void":
            invoice["amount_remaining"] = 0
    store.emit(event, invoice)
    sync_delinquency(store, invoice["customer"])


def card_declined(code: str) -> StripeApiError:
    if code == NO_PAYMENT_METHOD:
        return StripeApiError(
            400,
            "This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method.",
        )
    return StripeApiError(
        402,
        "Your card has insufficient funds." if code == "insufficient_funds" else "Your card was declined.",
        error_type="card_error",
        code="card_declined",
        decline_code=code,
    )
