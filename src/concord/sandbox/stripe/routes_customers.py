"""/v1/customers: create, retrieve, update, delete, list and search."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.stripe import customers
from concord.sandbox.stripe.forms import Params, Schema, check_schema
from concord.sandbox.stripe.listing import PAGING_KEYS, created_filter, expand, list_envelope, read_limit
from concord.sandbox.stripe.routing import StripeRoute
from concord.sandbox.stripe.runtime import StripeTwin, read_params, respond, twin_of
from concord.sandbox.stripe.search import CUSTOMER_FIELDS, Getter, run_search, search_page
from concord.sandbox.stripe.store import StripeObject
from concord.sandbox.stripe.subscriptions import cancel_all_for_customer

RETRIEVE: Schema = {"expand": None}
LIST: Schema = {**dict.fromkeys(PAGING_KEYS), "created": None, "email": None, "test_clock": None}
SEARCH: Schema = {"query": None, "limit": None, "page": None, "expand": None}


def search_response(
    twin: StripeTwin, params: Params, items: list[StripeObject], resource: str, fields: dict[str, Getter]
) -> JSONResponse:
    """Shared by every /search endpoint: query, `limit`/`page` paging and `expand[]=total_count`."""
    check_schema(params.data, SEARCH)
    matches = run_search(items, params.required("query"), resource, fields)
    result = search_page(matches, read_limit(params), params.string("page"), f"/v1/{resource}/search")
    paths = params.strings("expand")
    if "total_count" in paths:
        result["total_count"] = len(matches)
    result = expand(result, [path for path in paths if path != "total_count"], twin.store)
    return JSONResponse(result)


async def create_customer(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    customer = customers.build_customer(twin.store, params)
    twin.store.emit("customer.created", customer)
    return respond(twin, customer, params)


async def list_customers(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, LIST)
    created = created_filter(params)
    email = params.string("email")
    items = [
        customer
        for customer in twin.store.newest_first("customer")
        if not customer.get("deleted") and created(customer) and (email is None or customer["email"] == email)
    ]
    return JSONResponse(list_envelope(twin.store, items, params, "/v1/customers", "customer"))


async def search_customers(request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    items = [item for item in twin.store.newest_first("customer") if not item.get("deleted")]
    return search_response(twin, params, items, "customers", CUSTOMER_FIELDS)


async def retrieve_customer(customer_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, RETRIEVE)
    found = twin.store.get("customer", customer_id)
    if found is not None and found.get("deleted"):
        # A deleted customer is still retrievable, as a stub that says so.
        return JSONResponse(customers.deleted_stub(customer_id))
    return respond(twin, twin.store.require("customer", customer_id), params)


async def update_customer(customer_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    customer = twin.store.require("customer", customer_id)
    previous = customers.update_customer(twin.store, customer, params)
    if previous:
        twin.store.emit("customer.updated", customer, previous)
    return respond(twin, customer, params)


async def delete_customer(customer_id: str, request: Request) -> JSONResponse:
    twin, params = twin_of(request), await read_params(request)
    check_schema(params.data, {})
    customer = twin.store.require("customer", customer_id)
    cancel_all_for_customer(twin.billing, customer_id)
    with twin.store.lock:
        customer["deleted"] = True
    twin.store.emit("customer.deleted", {k: v for k, v in customer.items() if k != "deleted"})
    return JSONResponse(customers.deleted_stub(customer_id))


def build_router() -> APIRouter:
    router = APIRouter(route_class=StripeRoute)
    router.add_api_route("/v1/customers", create_customer, methods=["POST"])
    router.add_api_route("/v1/customers", list_customers, methods=["GET"])
    router.add_api_route("/v1/customers/search", search_customers, methods=["GET"])
    router.add_api_route("/v1/customers/{customer_id}", retrieve_customer, methods=["GET"])
    router.add_api_route("/v1/customers/{customer_id}", update_customer, methods=["POST"])
    router.add_api_route("/v1/customers/{customer_id}", delete_customer, methods=["DELETE"])
    return router
