"""/v1/subscriptions and /v1/invoices."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.stripe import invoices
from concord.sandbox.stripe.forms import Schema, check_schema
from concord.sandbox.stripe.listing import PAGING_KEYS, created_filter, list_envelope
from concord.sandbox.stripe.routes_customers import search_response
from concord.sandbox.stripe.routing import StripeRoute
from concord.sandbox.stripe.runtime import read_params, respond, twin_of
from concord.sandbox.stripe.search import INVOICE_FIELDS, SUBSCRIPTION_FIELDS

RETRIEVE: Schema = {"expand": None}
SUBSCRIPTION_LIST: Schema = {
    **dict.fromkeys(PAGING_KEYS),
    "collection_method": None,
    "created": None,
    "customer": None,
    "price": None,
    "status": None,
    "test_clock": None,
}
INVOICE_LIST: Schema = {
    **dict.fromkeys(PAGING_KEYS),
    "collection_method": None,
    "created": None,
    "customer": None,
    "due_date": None,
    "status": None,
    "subscription": None,
}
PAY: Schema = {
    "expand": None,
    "forgive": None,
    "off_session": None,
    "paid_out_of_band": None,
    "payment_method": None,
    "source": None,
}
SUBSCRIPTION_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


def _status_matches(status: str, wanted: str | None) -> bool:
    # Without a status filter Stripe lists every subscription that has not been canceled.
    if wanted is None:
        return status != "canceled"
    if wanted == "all":
        return True
    if wanted == "ended":
        return status in ("canceled", "incomplete_expired")
    return status == wanted


async def create_subscription(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    return respond(twin, twin.billing.create(params), params)


async def list_subscriptions(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, SUBSCRIPTION_LIST)
    created = created_filter(params)
    customer, price = params.string("customer"), params.string("price")
    status = params.choice("status", SUBSCRIPTION_STATUSES)
    collection = params.string("collection_method")
    items = [
        sub
        for sub in twin.store.newest_first("subscription")
        if created(sub)
        and _status_matches(sub["status"], status)
        and customer in (None, sub["customer"])
        and collection in (None, sub["collection_method"])
        and (price is None or any(item["price"]["id"] == price for item in sub["items"]["data"]))
    ]
    return JSONResponse(list_envelope(twin.store, items, params, "/v1/subscriptions", "subscription"))


async def search_subscriptions(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    items = twin.store.newest_first("subscription")
    return search_response(twin, params, items, "subscriptions", SUBSCRIPTION_FIELDS)


async def retrieve_subscription(subscription_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("subscription", subscription_id), params)


async def update_subscription(subscription_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    subscription = twin.store.require("subscription", subscription_id)
    return respond(twin, twin.billing.update(subscription, params), params)


async def cancel_subscription(subscription_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    subscription = twin.store.require("subscription", subscription_id)
    twin.billing.cancel(subscription, params)
    return respond(twin, subscription, params)


async def list_invoices(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, INVOICE_LIST)
    created, due = created_filter(params), created_filter(params, "due_date")
    customer, subscription = params.string("customer"), params.string("subscription")
    status = params.choice("status", INVOICE_STATUSES)
    collection = params.string("collection_method")
    items = [
        invoice
        for invoice in twin.store.newest_first("invoice")
        if created(invoice)
        and due(invoice)
        and customer in (None, invoice["customer"])
        and status in (None, invoice["status"])
        and collection in (None, invoice["collection_method"])
        and subscription in (None, invoices.subscription_of(invoice))
    ]
    return JSONResponse(list_envelope(twin.store, items, params, "/v1/invoices", "invoice"))


async def search_invoices(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    return search_response(twin, params, twin.store.newest_first("invoice"), "invoices", INVOICE_FIELDS)


async def retrieve_invoice(invoice_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("invoice", invoice_id), params)


async def pay_invoice(invoice_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, PAY)
    invoice = twin.store.require("invoice", invoice_id)
    invoices.require_open(invoice, "pay", ("open", "uncollectible"))
    if params.boolean("paid_out_of_band"):
        invoices.mark_paid(twin.store, invoice, out_of_band=True)
    else:
        method = invoices.payment_method_for(twin.store, invoice, params.string("payment_method"))
        failure = invoices.charge(twin.store, invoice, method)
        if failure is not None:
            raise invoices.card_declined(failure)
    return respond(twin, invoice, params)


async def void_invoice(invoice_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    invoice = twin.store.require("invoice", invoice_id)
    invoices.require_open(invoice, "void", ("open", "uncollectible"))
    invoices.transition(twin.store, invoice, "void", "voided_at", "invoice.voided")
    return respond(twin, invoice, params)


async def mark_uncollectible(invoice_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    invoice = twin.store.require("invoice", invoice_id)
    invoices.require_open(invoice, "mark uncollectible")
    invoices.transition(twin.store, invoice, "uncollectible", "marked_uncollectible_at", "invoice.marked_uncollectible")
    return respond(twin, invoice, params)


def build_router() -> APIRouter:
    router = APIRouter(route_class=StripeRoute)
    router.add_api_route("/v1/subscriptions", create_subscription, methods=["POST"])
    router.add_api_route("/v1/subscriptions", list_subscriptions, methods=["GET"])
    router.add_api_route("/v1/subscriptions/search", search_subscriptions, methods=["GET"])
    router.add_api_route("/v1/subscriptions/{subscription_id}", retrieve_subscription, methods=["GET"])
    router.add_api_route("/v1/subscriptions/{subscription_id}", update_subscription, methods=["POST"])
    router.add_api_route("/v1/subscriptions/{subscription_id}", cancel_subscription, methods=["DELETE"])
    router.add_api_route("/v1/invoices", list_invoices, methods=["GET"])
    router.add_api_route("/v1/invoices/search", search_invoices, methods=["GET"])
    router.add_api_route("/v1/invoices/{invoice_id}", retrieve_invoice, methods=["GET"])
    router.add_api_route("/v1/invoices/{invoice_id}/pay", pay_invoice, methods=["POST"])
    router.add_api_route("/v1/invoices/{invoice_id}/void", void_invoice, methods=["POST"])
    router.add_api_route("/v1/invoices/{invoice_id}/mark_uncollectible", mark_uncollectible, methods=["POST"])
    return router
