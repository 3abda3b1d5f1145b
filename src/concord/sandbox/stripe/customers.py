"""Customers: the documented create/update parameters and the object Stripe returns."""

from __future__ import annotations

import secrets
from typing import Any

from concord.sandbox.stripe.errors import missing_param
from concord.sandbox.stripe.forms import Params, Schema, apply_metadata, check_schema
from concord.sandbox.stripe.store import StripeObject, StripeStore, new_id

ADDRESS: Schema = {key: None for key in ("city", "country", "line1", "line2", "postal_code", "state")}
SHIPPING: Schema = {"address": ADDRESS, "name": None, "phone": None}
INVOICE_SETTINGS: Schema = {
    "custom_fields": None,
    "default_payment_method": None,
    "footer": None,
    "rendering_options": None,
}
CUSTOMER_PARAMS: Schema = {
    "address": ADDRESS,
    "balance": None,
    "description": None,
    "email": None,
    "expand": None,
    "invoice_prefix": None,
    "invoice_settings": INVOICE_SETTINGS,
    "metadata": None,
    "name": None,
    "next_invoice_sequence": None,
    "payment_method": None,
    "phone": None,
    "preferred_locales": None,
    "shipping": SHIPPING,
    "tax_exempt": None,
    "test_clock": None,
}
CUSTOMER_UPDATE_PARAMS: Schema = {
    **{key: value for key, value in CUSTOMER_PARAMS.items() if key not in ("payment_method", "test_clock")},
    "default_source": None,
}
TAX_EXEMPT = ("none", "exempt", "reverse")
SIMPLE_FIELDS = ("description", "email", "name", "phone")


def _address(params: Params | None) -> dict[str, str | None] | None:
    if params is None:
        return None
    return {key: params.nullable(key) for key in ADDRESS}


def _shipping(params: Params | None) -> dict[str, Any] | None:
    if params is None:
        return None
    if not params.has("name"):
        raise missing_param(params.path("name"))
    return {
        "address": _address(params.hash("address")),
        "name": params.nullable("name"),
        "phone": params.nullable("phone"),
    }


def _invoice_settings(current: dict[str, Any], params: Params | None) -> dict[str, Any]:
    merged = dict(current)
    if params is not None:
        for key in INVOICE_SETTINGS:
            if params.has(key):
                merged[key] = params.nullable(key)
    return merged


def build_customer(store: StripeStore, params: Params) -> StripeObject:
    check_schema(params.data, CUSTOMER_PARAMS)
    customer: StripeObject = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": store.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": params.string("invoice_prefix") or secrets.token_hex(4).upper(),
        "invoice_settings": _invoice_settings(dict.fromkeys(INVOICE_SETTINGS), None),
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    _apply(customer, params)
    return store.put("customer", customer)


def _apply(customer: StripeObject, params: Params) -> None:
    for key in SIMPLE_FIELDS:
        if params.has(key):
            customer[key] = params.nullable(key)
    if params.has("address"):
        customer["address"] = _address(params.hash("address"))
    if params.has("shipping"):
        customer["shipping"] = _shipping(params.hash("shipping"))
    if params.has("tax_exempt"):
        customer["tax_exempt"] = params.choice("tax_exempt", TAX_EXEMPT)
    if params.has("balance"):
        customer["balance"] = params.integer("balance")
    if params.has("next_invoice_sequence"):
        customer["next_invoice_sequence"] = params.integer("next_invoice_sequence")
    if params.has("preferred_locales"):
        customer["preferred_locales"] = params.strings("preferred_locales")
    if params.has("default_source"):
        customer["default_source"] = params.nullable("default_source")
    customer["invoice_settings"] = _invoice_settings(customer["invoice_settings"], params.hash("invoice_settings"))
    customer["metadata"] = apply_metadata(customer["metadata"], params.metadata())


def previous_attributes(before: StripeObject, after: StripeObject) -> dict[str, Any]:
    """What `customer.updated` (and friends) report: old values of changed keys; metadata key by key."""
    previous: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if key == "metadata":
            old_meta: dict[str, str] = old or {}
            new_meta: dict[str, str] = new or {}
            changed = set(old_meta) | set(new_meta)
            previous[key] = {k: old_meta.get(k) for k in sorted(changed) if old_meta.get(k) != new_meta.get(k)}
        else:
            previous[key] = old
    return previous


def update_customer(store: StripeStore, customer: StripeObject, params: Params) -> dict[str, Any]:
    """Apply an update in place and return the previous attributes (empty when nothing changed)."""
    check_schema(params.data, CUSTOMER_UPDATE_PARAMS)
    before = {key: (dict(value) if isinstance(value, dict) else value) for key, value in customer.items()}
    with store.lock:
        _apply(customer, params)
    return previous_attributes(before, customer)


def deleted_stub(customer_id: str) -> StripeObject:
    return {"id": customer_id, "object": "customer", "deleted": True}
