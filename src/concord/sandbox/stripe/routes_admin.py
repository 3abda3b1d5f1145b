"""/__twin__/: test-only controls that Stripe itself does not have (time passing, dunning, redelivery)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.stripe import invoices
from concord.sandbox.stripe.routing import StripeRoute
from concord.sandbox.stripe.runtime import twin_of

PREFIX = "/__twin__"


async def reset(request: Request) -> JSONResponse:
    twin_of(request).reset()
    return JSONResponse({"reset": True})


async def counts(request: Request) -> JSONResponse:
    return JSONResponse(twin_of(request).store.counts())


async def mark_overdue(invoice_id: str, request: Request) -> JSONResponse:
    store = twin_of(request).store
    invoice = store.require("invoice", invoice_id)
    invoices.mark_overdue(store, invoice)
    return JSONResponse(invoice)


async def fail_payment(invoice_id: str, request: Request) -> JSONResponse:
    """A scheduled retry was declined: `invoice.payment_failed`, subscription `past_due`."""
    store = twin_of(request).store
    invoice = store.require("invoice", invoice_id)
    invoices.require_open(invoice, "fail payment on")
    invoices.record_failure(store, invoice)
    return JSONResponse(invoice)


async def advance(subscription_id: str, request: Request) -> JSONResponse:
    """The current period ends now: renew (new invoice, charged) or cancel at period end."""
    twin = twin_of(request)
    subscription = twin.store.require("subscription", subscription_id)
    invoice = twin.billing.advance(subscription)
    return JSONResponse({"subscription": subscription, "invoice": invoice})


async def redeliver(event_id: str, request: Request) -> JSONResponse:
    twin = twin_of(request)
    endpoint = request.query_params.get("endpoint")
    deliveries = twin.dispatcher.redeliver(event_id, endpoint)
    return JSONResponse({"deliveries": [delivery.as_dict() for delivery in deliveries]})


async def deliveries(request: Request) -> JSONResponse:
    store = twin_of(request).store
    with store.lock:
        return JSONResponse({"deliveries": [delivery.as_dict() for delivery in store.deliveries]})


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=StripeRoute)
    router.add_api_route("/reset", reset, methods=["POST"])
    router.add_api_route("/counts", counts, methods=["GET"])
    router.add_api_route("/invoices/{invoice_id}/mark_overdue", mark_overdue, methods=["POST"])
    router.add_api_route("/invoices/{invoice_id}/fail_payment", fail_payment, methods=["POST"])
    router.add_api_route("/subscriptions/{subscription_id}/advance", advance, methods=["POST"])
    router.add_api_route("/events/{event_id}/redeliver", redeliver, methods=["POST"])
    router.add_api_route("/deliveries", deliveries, methods=["GET"])
    return router
