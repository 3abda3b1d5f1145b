"""Changing a subscription's items (upgrade, downgrade, add, remove) and the proration lines that follow.

Stripe's item semantics on update: `items[n][id]` names an existing item (change its `price` or `quantity`,
or drop it with `deleted=true`); an entry without `id` adds a new item. Each change credits the unused
time of what was there and charges the remaining time of what replaces it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from concord.sandbox.stripe.catalog import legacy_plan
from concord.sandbox.stripe.errors import StripeApiError, invalid_param, no_such
from concord.sandbox.stripe.forms import Params, apply_metadata
from concord.sandbox.stripe.invoices import LineSpec
from concord.sandbox.stripe.items import build_item, recurring_price
from concord.sandbox.stripe.periods import remaining_fraction
from concord.sandbox.stripe.store import StripeObject, StripeStore


@dataclass
class ItemChanges:
    lines: list[LineSpec] = field(default_factory=list)


def _prorate(
    store: StripeStore, item: StripeObject, price: StripeObject, quantity: int, sign: int, label: str
) -> LineSpec:
    start, end = item["current_period_start"], item["current_period_end"]
    fraction = remaining_fraction(start, end, store.now())
    amount = sign * round(price["unit_amount"] * quantity * fraction)
    product = store.get("product", price["product"]) or {"name": price["product"]}
    return LineSpec(
        amount=amount,
        quantity=quantity,
        price=price,
        subscription_item=item["id"],
        period=(store.now(), end),
        proration=True,
        description=f"{label} time on {quantity} x {product['name']}",
    )


def _change_existing(
    store: StripeStore, subscription: StripeObject, item: StripeObject, params: Params, changes: ItemChanges
) -> None:
    old_price, old_quantity = item["price"], item["quantity"]
    if params.boolean("deleted"):
        changes.lines.append(_prorate(store, item, old_price, old_quantity, -1, "Unused"))
        subscription["items"]["data"].remove(item)
        return
    new_price = recurring_price(store, params) if params.has("price") else old_price
    quantity = params.integer("quantity")
    new_quantity = old_quantity if quantity is None else quantity
    if new_price["id"] != old_price["id"] or new_quantity != old_quantity:
        changes.lines.append(_prorate(store, item, old_price, old_quantity, -1, "Unused"))
        changes.lines.append(_prorate(store, item, new_price, new_quantity, 1, "Remaining"))
    item.update(price=copy.deepcopy(new_price), plan=legacy_plan(new_price), quantity=new_quantity)
    item["metadata"] = apply_metadata(item["metadata"], params.metadata())


def _add_item(store: StripeStore, subscription: StripeObject, params: Params, changes: ItemChanges) -> None:
    price = recurring_price(store, params)
    if any(existing["price"]["id"] == price["id"] for existing in subscription["items"]["data"]):
        raise invalid_param(
            params.path("price"), f"Cannot add multiple subscription items with the same price: {price['id']}"
        )
    first = subscription["items"]["data"][0]
    period = (first["current_period_start"], first["current_period_end"])
    item = build_item(store, subscription["id"], price, params, period)
    subscription["items"]["data"].append(item)
    changes.lines.append(_prorate(store, item, price, item["quantity"], 1, "Remaining"))


def apply_item_changes(store: StripeStore, subscription: StripeObject, item_params: list[Params]) -> ItemChanges:
    changes = ItemChanges()
    if not item_params:
        return changes
    by_id = {item["id"]: item for item in subscription["items"]["data"]}
    for params in item_params:
        item_id = params.string("id")
        if item_id is None:
            _add_item(store, subscription, params, changes)
            continue
        item = by_id.get(item_id)
        if item is None:
            raise no_such("subscription_item", item_id, param=params.path("id"), status=400)
        _change_existing(store, subscription, item, params, changes)
    if not subscription["items"]["data"]:
        raise StripeApiError(400, "A subscription must have at least one active item.", param="items")
    subscription["items"]["total_count"] = len(subscription["items"]["data"])
    return changes
