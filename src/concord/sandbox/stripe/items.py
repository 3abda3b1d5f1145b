"""Subscription items: the recurring prices a subscription bills, and the invoice lines of one period."""

from __future__ import annotations

import copy

from concord.sandbox.stripe.catalog import legacy_plan
from concord.sandbox.stripe.errors import invalid_param
from concord.sandbox.stripe.forms import Params, Schema, apply_metadata
from concord.sandbox.stripe.invoices import LineSpec
from concord.sandbox.stripe.store import StripeObject, StripeStore, new_id

ITEM: Schema = {"id": None, "price": None, "quantity": None, "metadata": None, "deleted": None, "clear_usage": None}


def recurring_price(store: StripeStore, params: Params) -> StripeObject:
    price = store.require("price", params.required("price"), param=params.path("price"), status=400)
    if price["type"] != "recurring":
        raise invalid_param(
            params.path("price"),
            "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
        )
    return price


def build_item(
    store: StripeStore, subscription_id: str, price: StripeObject, params: Params, period: tuple[int, int]
) -> StripeObject:
    quantity = params.integer("quantity")
    if quantity is not None and quantity < 0:
        raise invalid_param(params.path("quantity"), "Invalid quantity: must be a non-negative integer")
    return {
        "id": new_id("si", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": store.now(),
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": apply_metadata({}, params.metadata()),
        "plan": legacy_plan(price),
        "price": copy.deepcopy(price),
        "quantity": 1 if quantity is None else quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def items_envelope(subscription_id: str, items: list[StripeObject]) -> StripeObject:
    return {
        "object": "list",
        "data": items,
        "has_more": False,
        "total_count": len(items),
        "url": f"/v1/subscription_items?subscription={subscription_id}",
    }


def cycle_lines(subscription: StripeObject, amount_zero: bool = False) -> list[LineSpec]:
    """One line per item for its current period; zero-priced during a trial, as Stripe's trial invoice is."""
    return [
        LineSpec(
            amount=0 if amount_zero else item["price"]["unit_amount"] * item["quantity"],
            quantity=item["quantity"],
            price=item["price"],
            subscription_item=item["id"],
            period=(item["current_period_start"], item["current_period_end"]),
        )
        for item in subscription["items"]["data"]
    ]
