"""Products and prices: just enough of the catalog for subscriptions to point at."""

from __future__ import annotations

from concord.sandbox.stripe.errors import StripeApiError, invalid_param, missing_param
from concord.sandbox.stripe.forms import Params, Schema, apply_metadata, check_schema
from concord.sandbox.stripe.store import StripeObject, StripeStore, new_id

PRODUCT_PARAMS: Schema = {
    key: None
    for key in (
        "active",
        "description",
        "expand",
        "id",
        "images",
        "metadata",
        "name",
        "statement_descriptor",
        "tax_code",
        "unit_label",
        "url",
    )
}
RECURRING: Schema = {"interval": None, "interval_count": None, "usage_type": None}
PRICE_PARAMS: Schema = {
    "active": None,
    "currency": None,
    "expand": None,
    "lookup_key": None,
    "metadata": None,
    "nickname": None,
    "product": None,
    "product_data": {"name": None, "metadata": None, "active": None, "unit_label": None, "statement_descriptor": None},
    "recurring": RECURRING,
    "tax_behavior": None,
    "unit_amount": None,
}
INTERVALS = ("day", "month", "week", "year")


def build_product(store: StripeStore, params: Params, prefix_check: bool = True) -> StripeObject:
    if prefix_check:
        check_schema(params.data, PRODUCT_PARAMS)
    product_id = params.string("id") or new_id("prod", 14)
    if store.get("product", product_id) is not None:
        raise invalid_param("id", "Product already exists.", code="resource_already_exists")
    now = store.now()
    product: StripeObject = {
        "id": product_id,
        "object": "product",
        "active": params.boolean("active") if params.has("active") else True,
        "created": now,
        "default_price": None,
        "description": params.nullable("description"),
        "images": params.strings("images"),
        "livemode": False,
        "marketing_features": [],
        "metadata": apply_metadata({}, params.metadata()),
        "name": params.required("name"),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": params.nullable("statement_descriptor"),
        "tax_code": params.nullable("tax_code"),
        "type": "service",
        "unit_label": params.nullable("unit_label"),
        "updated": now,
        "url": params.nullable("url"),
    }
    return store.put("product", product)


def _recurring(params: Params | None) -> StripeObject | None:
    if params is None:
        return None
    interval_count = params.integer("interval_count") or 1
    if interval_count < 1:
        raise invalid_param(params.path("interval_count"), "Invalid interval_count: must be at least 1")
    return {
        "interval": params.choice("interval", INTERVALS, required=True),
        "interval_count": interval_count,
        "meter": None,
        "trial_period_days": None,
        "usage_type": params.choice("usage_type", ("licensed", "metered")) or "licensed",
    }


def _product_for_price(store: StripeStore, params: Params) -> str:
    product_data = params.hash("product_data")
    product_id = params.string("product")
    if product_id and product_data is not None:
        raise StripeApiError(400, "You may only specify one of these parameters: product, product_data.")
    if product_data is not None:
        product: StripeObject = build_product(store, product_data, prefix_check=False)
        return str(product["id"])
    if not product_id:
        raise missing_param("product")
    store.require("product", product_id, param="product", status=400)
    return product_id


def build_price(store: StripeStore, params: Params) -> StripeObject:
    check_schema(params.data, PRICE_PARAMS)
    currency = params.required("currency").lower()
    unit_amount = params.integer("unit_amount", required=True)
    if unit_amount is None or unit_amount < 0:
        raise invalid_param("unit_amount", "Invalid unit_amount: must be a non-negative integer")
    product_id = _product_for_price(store, params)
    recurring = _recurring(params.hash("recurring"))
    price: StripeObject = {
        "id": new_id("price", 24),
        "object": "price",
        "active": params.boolean("active") if params.has("active") else True,
        "billing_scheme": "per_unit",
        "created": store.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": params.nullable("lookup_key"),
        "metadata": apply_metadata({}, params.metadata()),
        "nickname": params.nullable("nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": params.choice("tax_behavior", ("exclusive", "inclusive", "unspecified")) or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    return store.put("price", price)


def legacy_plan(price: StripeObject) -> StripeObject:
    """Subscription items still carry the pre-2018 `plan` view of their price."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price["metadata"],
        "nickname": price["nickname"],
        "product": price["product"],
        "usage_type": recurring.get("usage_type", "licensed"),
    }
