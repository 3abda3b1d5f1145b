"""Subscriptions: create (with its first invoice), update items with prorations, cancel, and the admin-only
period advance that produces renewal invoices.

Statuses follow Stripe: `trialing` during a trial, `active` once the first invoice is paid (or at once for
send_invoice collection), `incomplete` when the first charge fails or has no payment method, `past_due` when
a later invoice fails or goes overdue, `canceled` at the end.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from concord.sandbox.stripe import invoices
from concord.sandbox.stripe.customers import previous_attributes
from concord.sandbox.stripe.errors import StripeApiError, invalid_param, missing_param
from concord.sandbox.stripe.forms import Params, Schema, apply_metadata, check_schema
from concord.sandbox.stripe.invoices import LineSpec
from concord.sandbox.stripe.items import ITEM, build_item, cycle_lines, items_envelope, recurring_price
from concord.sandbox.stripe.periods import add_interval
from concord.sandbox.stripe.proration import ItemChanges, apply_item_changes
from concord.sandbox.stripe.store import StripeObject, StripeStore, new_id

COMMON: Schema = {
    "cancel_at_period_end": None,
    "collection_method": None,
    "days_until_due": None,
    "default_payment_method": None,
    "description": None,
    "expand": None,
    "items": ITEM,
    "metadata": None,
    "off_session": None,
    "payment_behavior": None,
    "proration_behavior": None,
    "trial_end": None,
}
CREATE_PARAMS: Schema = {**COMMON, "customer": None, "currency": None, "trial_period_days": None}
UPDATE_PARAMS: Schema = {**COMMON, "cancellation_details": {"comment": None, "feedback": None}, "proration_date": None}
CANCEL_PARAMS: Schema = {
    "cancellation_details": {"comment": None, "feedback": None},
    "expand": None,
    "invoice_now": None,
    "prorate": None,
}
COLLECTION = ("charge_automatically", "send_invoice")
PAYMENT_BEHAVIOR = ("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete")
PRORATION = ("always_invoice", "create_prorations", "none")


# What a new subscription carries besides its own choices; the twin has no tax, discounts or schedules.
_SUBSCRIPTION_DEFAULTS: StripeObject = {
    "object": "subscription",
    "application": None,
    "application_fee_percent": None,
    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
    "billing_cycle_anchor_config": None,
    "billing_mode": {"flexible": None, "type": "classic"},
    "billing_thresholds": None,
    "cancel_at": None,
    "canceled_at": None,
    "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    "default_source": None,
    "default_tax_rates": [],
    "discounts": [],
    "ended_at": None,
    "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
    "latest_invoice": None,
    "livemode": False,
    "next_pending_invoice_item_invoice": None,
    "on_behalf_of": None,
    "pause_collection": None,
    "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                         "save_default_payment_method": "off"},
    "pending_invoice_item_interval": None,
    "pending_setup_intent": None,
    "pending_update": None,
    "schedule": None,
    "status": "incomplete",
    "test_clock": None,
    "transfer_data": None,
    "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
}  # fmt: skip


def _trial_end(params: Params, now: int) -> int | None:
    days = params.integer("trial_period_days")
    raw = params.string("trial_end")
    if raw == "now":
        return None
    end = params.integer("trial_end")
    if end is not None:
        if end <= now:
            raise invalid_param("trial_end", "Invalid timestamp: must be an integer Unix timestamp in the future.")
        return end
    return now + days * 86400 if days else None


@dataclass
class Billing:
    """Subscription operations over the store; keeps pending (not yet invoiced) proration lines."""

    store: StripeStore
    pending: dict[str, list[LineSpec]] = field(default_factory=dict)

    def reset(self) -> None:
        self.pending.clear()

    def create(self, params: Params) -> StripeObject:
        check_schema(params.data, CREATE_PARAMS)
        store = self.store
        customer = store.require("customer", params.required("customer"), param="customer", status=400)
        item_params = params.hashes("items")
        if not item_params:
            raise missing_param("items")
        prices = [recurring_price(store, item) for item in item_params]
        for field_name, values in (
            ("currency", {price["currency"] for price in prices}),
            ("interval", {(price["recurring"]["interval"], price["recurring"]["interval_count"]) for price in prices}),
        ):
            if len(values) > 1:
                raise invalid_param(
                    "items",
                    "Currency and interval fields must match across all plans on this subscription. "
                    f"Found mismatch in {field_name} field.",
                )
        subscription = self._new_subscription(params, customer, prices[0])
        period = (subscription["start_date"], subscription["trial_end"] or self._period_end(prices[0], store.now()))
        items = [
            build_item(store, subscription["id"], p, ip, period) for p, ip in zip(prices, item_params, strict=True)
        ]
        subscription["items"] = items_envelope(subscription["id"], items)
        if subscription["cancel_at_period_end"]:
            subscription["cancel_at"] = period[1]
        payment_method = params.string("default_payment_method") or invoices.payment_method_for(
            store, {"customer": customer["id"], "parent": None}
        )
        behavior = params.choice("payment_behavior", PAYMENT_BEHAVIOR) or "allow_incomplete"
        subscription["status"] = self._initial_status(subscription, payment_method, behavior)
        store.put("subscription", subscription)
        store.emit("customer.subscription.created", subscription)
        self._first_invoice(subscription, customer, payment_method, behavior)
        return subscription

    def _period_end(self, price: StripeObject, start: int) -> int:
        recurring = price["recurring"]
        return add_interval(start, recurring["interval"], recurring["interval_count"])

    def _new_subscription(self, params: Params, customer: StripeObject, price: StripeObject) -> StripeObject:
        now = self.store.now()
        collection = params.choice("collection_method", COLLECTION) or "charge_automatically"
        days_until_due = params.integer("days_until_due")
        if days_until_due is not None and collection != "send_invoice":
            raise invalid_param(
                "days_until_due", "days_until_due can only be set when collection_method is send_invoice."
            )
        trial_end = _trial_end(params, now)
        return {
            **copy.deepcopy(_SUBSCRIPTION_DEFAULTS),
            "id": new_id("sub"),
            "billing_cycle_anchor": trial_end or now,
            "cancel_at_period_end": bool(params.boolean("cancel_at_period_end")),
            "collection_method": collection,
            "created": now,
            "currency": price["currency"],
            "customer": customer["id"],
            "days_until_due": days_until_due if collection == "charge_automatically" else (days_until_due or 30),
            "default_payment_method": params.nullable("default_payment_method"),
            "description": params.nullable("description"),
            "metadata": apply_metadata({}, params.metadata()),
            "start_date": now,
            "trial_end": trial_end,
            "trial_start": now if trial_end else None,
        }

    @staticmethod
    def _initial_status(subscription: StripeObject, payment_method: str | None, behavior: str) -> str:
        if subscription["trial_end"]:
            return "trialing"
        if subscription["collection_method"] == "send_invoice":
            return "active"
        if behavior == "default_incomplete":
            return "incomplete"
        decline = invoices.NO_PAYMENT_METHOD if payment_method is None else invoices.DECLINES.get(payment_method)
        if decline and behavior == "error_if_incomplete":
            # Stripe creates nothing when the first payment fails under error_if_incomplete.
            raise invoices.card_declined(decline)
        return "incomplete" if decline else "active"

    def _first_invoice(
        self, subscription: StripeObject, customer: StripeObject, payment_method: str | None, behavior: str
    ) -> None:
        store = self.store
        trialing = subscription["status"] == "trialing"
        invoice = invoices.create_invoice(
            store, customer, subscription, cycle_lines(subscription, amount_zero=trialing), "subscription_create"
        )
        subscription["latest_invoice"] = invoice["id"]
        invoices.finalize(store, invoice, subscription["days_until_due"])
        if trialing:
            invoices.mark_paid(store, invoice)
        elif subscription["collection_method"] == "charge_automatically" and behavior != "default_incomplete":
            invoices.charge(store, invoice, payment_method)

    def update(self, subscription: StripeObject, params: Params) -> StripeObject:
        check_schema(params.data, UPDATE_PARAMS)
        if subscription["status"] == "canceled" and set(params.data) - {"metadata", "cancellation_details", "expand"}:
            raise StripeApiError(400, "A canceled subscription can only update its cancellation_details and metadata.")
        store = self.store
        before = copy.deepcopy(subscription)
        behavior = params.choice("proration_behavior", PRORATION) or "create_prorations"
        with store.lock:
            try:
                changes = apply_item_changes(store, subscription, params.hashes("items"))
                self._apply_fields(subscription, params)
            except StripeApiError:
                # A rejected update changes nothing, even when an earlier item in it was valid.
                subscription.clear()
                subscription.update(before)
                raise
        previous = previous_attributes(before, subscription)
        if previous:
            store.emit("customer.subscription.updated", subscription, previous)
        self._settle_prorations(subscription, changes, behavior)
        if params.string("trial_end") == "now" and subscription["status"] == "trialing":
            self.advance(subscription, end_trial_now=True)
        return subscription

    def _apply_fields(self, subscription: StripeObject, params: Params) -> None:
        subscription["metadata"] = apply_metadata(subscription["metadata"], params.metadata())
        for key in ("description", "default_payment_method"):
            if params.has(key):
                subscription[key] = params.nullable(key)
        if params.has("collection_method"):
            subscription["collection_method"] = params.choice("collection_method", COLLECTION)
        if params.has("days_until_due"):
            subscription["days_until_due"] = params.integer("days_until_due")
        if params.has("cancel_at_period_end"):
            at_end = bool(params.boolean("cancel_at_period_end"))
            subscription["cancel_at_period_end"] = at_end
            subscription["cancel_at"] = subscription["items"]["data"][0]["current_period_end"] if at_end else None
        details = params.hash("cancellation_details")
        if details is not None:
            for key in ("comment", "feedback"):
                if details.has(key):
                    subscription["cancellation_details"][key] = details.nullable(key)

    def _settle_prorations(self, subscription: StripeObject, changes: ItemChanges, behavior: str) -> None:
        if not changes.lines or behavior == "none" or subscription["status"] not in ("active", "past_due"):
            return
        if behavior == "create_prorations":
            self.pending.setdefault(subscription["id"], []).extend(changes.lines)
            return
        store = self.store
        customer = store.require("customer", subscription["customer"])
        invoice = invoices.create_invoice(store, customer, subscription, changes.lines, "subscription_update")
        credit = sum(line.amount for line in changes.lines)
        if credit < 0:
            with store.lock:
                customer["balance"] += credit
        subscription["latest_invoice"] = invoice["id"]
        invoices.finalize(store, invoice, subscription["days_until_due"])
        if subscription["collection_method"] == "charge_automatically":
            invoices.charge(store, invoice, invoices.payment_method_for(store, invoice))

    def cancel(self, subscription: StripeObject, params: Params, reason: str = "cancellation_requested") -> None:
        check_schema(params.data, CANCEL_PARAMS)
        if subscription["status"] == "canceled":
            raise StripeApiError(400, "This subscription has already been canceled.")
        now = self.store.now()
        with self.store.lock:
            subscription.update(status="canceled", canceled_at=now, ended_at=now, cancel_at=None)
            subscription["cancellation_details"]["reason"] = reason
            details = params.hash("cancellation_details")
            for key in ("comment", "feedback"):
                if details is not None and details.has(key):
                    subscription["cancellation_details"][key] = details.nullable(key)
        self.pending.pop(subscription["id"], None)
        self.store.emit("customer.subscription.deleted", subscription)

    def advance(self, subscription: StripeObject, end_trial_now: bool = False) -> StripeObject | None:
        """Move to the next period (or end the trial now) and invoice it; returns the new invoice."""
        if subscription["status"] == "canceled":
            raise StripeApiError(400, "A canceled subscription cannot be advanced.")
        if subscription["cancel_at_period_end"] and not end_trial_now:
            self.cancel(subscription, Params({}))
            return None
        store = self.store
        before = copy.deepcopy(subscription)
        start = store.now() if end_trial_now else subscription["items"]["data"][0]["current_period_end"]
        with store.lock:
            for item in subscription["items"]["data"]:
                item["current_period_start"] = start
                item["current_period_end"] = self._period_end(item["price"], start)
            if subscription["status"] == "trialing":
                subscription.update(status="active", trial_end=start if end_trial_now else subscription["trial_end"])
        store.emit("customer.subscription.updated", subscription, previous_attributes(before, subscription))
        customer = store.require("customer", subscription["customer"])
        lines = cycle_lines(subscription) + self.pending.pop(subscription["id"], [])
        invoice = invoices.create_invoice(store, customer, subscription, lines, "subscription_cycle")
        subscription["latest_invoice"] = invoice["id"]
        invoices.finalize(store, invoice, subscription["days_until_due"])
        if subscription["collection_method"] == "charge_automatically":
            invoices.charge(store, invoice, invoices.payment_method_for(store, invoice))
        return invoice


def cancel_all_for_customer(billing: Billing, customer_id: str) -> None:
    """Deleting a customer cancels their live subscriptions immediately, as Stripe does."""
    for subscription in billing.store.newest_first("subscription"):
        if subscription["customer"] == customer_id and subscription["status"] != "canceled":
            billing.cancel(subscription, Params({}))
