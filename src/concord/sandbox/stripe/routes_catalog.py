"""/v1/products, /v1/prices, /v1/events and /v1/webhook_endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.stripe import catalog
from concord.sandbox.stripe.errors import invalid_param, missing_param
from concord.sandbox.stripe.forms import Params, Schema, apply_metadata, check_schema
from concord.sandbox.stripe.listing import PAGING_KEYS, created_filter, list_envelope
from concord.sandbox.stripe.routing import StripeRoute
from concord.sandbox.stripe.runtime import StripeTwin, read_params, respond, twin_of
from concord.sandbox.stripe.store import StripeObject, new_id

RETRIEVE: Schema = {"expand": None}
PAGING: Schema = dict.fromkeys(PAGING_KEYS)
ENDPOINT_PARAMS: Schema = {
    key: None for key in ("api_version", "connect", "description", "enabled_events", "expand", "metadata", "url")
}
ENDPOINT_UPDATE: Schema = {
    key: None for key in ("description", "disabled", "enabled_events", "expand", "metadata", "url")
}
EVENT_TYPES = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.overdue",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)


def _listed(twin: StripeTwin, params: Params, kind: str, url: str, equals: dict[str, object]) -> JSONResponse:
    """List live objects of `kind`, keeping those whose fields equal every non-None filter value."""
    created = created_filter(params)
    items = [
        item
        for item in twin.store.newest_first(kind)
        if not item.get("deleted")
        and created(item)
        and all(item.get(k) == v for k, v in equals.items() if v is not None)
    ]
    return JSONResponse(list_envelope(twin.store, items, params, url, kind))


def _enabled_events(params: Params, required: bool) -> list[str] | None:
    events = params.strings("enabled_events")
    if not events:
        if required:
            raise missing_param("enabled_events")
        return None
    for index, event_type in enumerate(events):
        if event_type != "*" and event_type not in EVENT_TYPES:
            raise invalid_param(
                f"enabled_events[{index}]",
                f"Invalid enabled_events[{index}]: {event_type} is not a supported event type.",
            )
    return events


def _endpoint(twin: StripeTwin, params: Params) -> StripeObject:
    check_schema(params.data, ENDPOINT_PARAMS)
    url = params.required("url")
    if not url.startswith(("http://", "https://")):
        raise invalid_param("url", "Invalid URL: URL must be publicly accessible and use http or https.")
    endpoint: StripeObject = {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": params.nullable("api_version"),
        "application": None,
        "created": twin.store.now(),
        "description": params.nullable("description"),
        "enabled_events": _enabled_events(params, required=True),
        "livemode": False,
        "metadata": apply_metadata({}, params.metadata()),
        "status": "enabled",
        "url": url,
    }
    twin.store.endpoint_secrets[endpoint["id"]] = new_id("whsec", 32)
    return twin.store.put("webhook_endpoint", endpoint)


async def create_product(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    return respond(twin, catalog.build_product(twin.store, params), params)


async def list_products(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, {**PAGING, "active": None, "created": None})
    return _listed(twin, params, "product", "/v1/products", {"active": params.boolean("active")})


async def retrieve_product(product_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("product", product_id), params)


async def create_price(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    return respond(twin, catalog.build_price(twin.store, params), params)


async def list_prices(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, {**PAGING, "active": None, "created": None, "product": None, "type": None})
    filters: dict[str, object] = {
        "active": params.boolean("active"),
        "product": params.string("product"),
        "type": params.choice("type", ("one_time", "recurring")),
    }
    return _listed(twin, params, "price", "/v1/prices", filters)


async def retrieve_price(price_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("price", price_id), params)


async def list_events(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, {**PAGING, "created": None, "type": None, "types": None, "delivery_success": None})
    types = set(params.strings("types"))
    created = created_filter(params)
    wanted_type = params.string("type")
    items = [
        event
        for event in twin.store.newest_first("event")
        if created(event)
        and (not types or event["type"] in types)
        and (wanted_type is None or _type_matches(event["type"], wanted_type))
    ]
    return JSONResponse(list_envelope(twin.store, items, params, "/v1/events", "event"))


async def retrieve_event(event_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("event", event_id), params)


def _type_matches(event_type: str, pattern: str) -> bool:
    # `type` accepts a trailing wildcard: `customer.*` matches every customer event.
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


async def create_endpoint(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    endpoint = _endpoint(twin, params)
    # The signing secret is shown once, in the create response only.
    return JSONResponse({**endpoint, "secret": twin.store.endpoint_secrets[endpoint["id"]]})


async def list_endpoints(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, PAGING)
    return _listed(twin, params, "webhook_endpoint", "/v1/webhook_endpoints", {})


async def retrieve_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    return respond(twin, twin.store.require("webhook_endpoint", endpoint_id), params)


async def update_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, ENDPOINT_UPDATE)
    endpoint = twin.store.require("webhook_endpoint", endpoint_id)
    with twin.store.lock:
        endpoint["url"] = params.string("url") or endpoint["url"]
        endpoint["enabled_events"] = _enabled_events(params, required=False) or endpoint["enabled_events"]
        if params.has("disabled"):
            endpoint["status"] = "disabled" if params.boolean("disabled") else "enabled"
        if params.has("description"):
            endpoint["description"] = params.nullable("description")
        endpoint["metadata"] = apply_metadata(endpoint["metadata"], params.metadata())
    return respond(twin, endpoint, params)


async def delete_endpoint(endpoint_id: str, request: Request) -> JSONResponse:
    twin = twin_of(request)
    twin.store.require("webhook_endpoint", endpoint_id)
    twin.store.remove("webhook_endpoint", endpoint_id)
    return JSONResponse({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


def build_router() -> APIRouter:
    router = APIRouter(route_class=StripeRoute)
    router.add_api_route("/v1/products", create_product, methods=["POST"])
    router.add_api_route("/v1/products", list_products, methods=["GET"])
    router.add_api_route("/v1/products/{product_id}", retrieve_product, methods=["GET"])
    router.add_api_route("/v1/prices", create_price, methods=["POST"])
    router.add_api_route("/v1/prices", list_prices, methods=["GET"])
    router.add_api_route("/v1/prices/{price_id}", retrieve_price, methods=["GET"])
    router.add_api_route("/v1/events", list_events, methods=["GET"])
    router.add_api_route("/v1/events/{event_id}", retrieve_event, methods=["GET"])
    router.add_api_route("/v1/webhook_endpoints", create_endpoint, methods=["POST"])
    router.add_api_route("/v1/webhook_endpoints", list_endpoints, methods=["GET"])
    router.add_api_route("/v1/webhook_endpoints/{endpoint_id}", retrieve_endpoint, methods=["GET"])
    router.add_api_route("/v1/webhook_endpoints/{endpoint_id}", update_endpoint, methods=["POST"])
    router.add_api_route("/v1/webhook_endpoints/{endpoint_id}", delete_endpoint, methods=["DELETE"])
    return router
