"""`/api/v2/organizations`: CRUD, create_or_update, bulk jobs, search by external id or name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from concord.sandbox.zendesk.errors import invalid_value, too_many_values
from concord.sandbox.zendesk.models import JsonDict, Organization, User
from concord.sandbox.zendesk.paging import list_page, offset_page
from concord.sandbox.zendesk.store import ZendeskStore
from concord.sandbox.zendesk.web import (
    base_url,
    json_response,
    path_id,
    read_json,
    read_root,
    render_organization,
    render_user,
    settings_of,
    store_of,
)

router = APIRouter()
ROOT = "/api/v2/organizations"
_MISSING_ID = -1  # an id no record has: the bulk job reports it as not found


def _single(request: Request, org: Organization, status: int = 200) -> Response:
    body = {"organization": render_organization(request, org)}
    location = body["organization"]["url"] if status == 201 else None
    return json_response(body, status, location)


def bulk_items(body: JsonDict, key: str, limit: int) -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list):
        raise invalid_value(f"{key} must be an array")
    if len(items) > limit:
        raise too_many_values(limit)
    return items


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _id_for_external(store: ZendeskStore, external_id: str) -> int:
    found = store.search_organizations(external_id, None)
    return found[0].id if found else _MISSING_ID


def _update_targets(request: Request, body: JsonDict, limit: int) -> list[tuple[int, JsonDict]]:
    """`?ids=` or `?external_ids=` with one shared `organization`, or a list of `organizations` with ids."""
    params = request.query_params
    if "ids" not in params and "external_ids" not in params:
        items = bulk_items(body, "organizations", limit)
        return [
            (item["id"] if isinstance(item.get("id"), int) else _MISSING_ID, item)
            for item in items
            if isinstance(item, dict)
        ]
    shared = body.get("organization")
    payload: JsonDict = shared if isinstance(shared, dict) else {}
    if "ids" in params:
        ids = [int(part) if part.isdigit() else _MISSING_ID for part in _split(params["ids"])]
    else:
        ids = [_id_for_external(store_of(request), ext) for ext in _split(params["external_ids"])]
    if len(ids) > limit:
        raise too_many_values(limit)
    return [(org_id, dict(payload)) for org_id in ids]


@router.get(ROOT)
async def list_organizations(request: Request) -> Response:
    def render(org: Organization) -> JsonDict:
        return render_organization(request, org)

    items = store_of(request).list_organizations()
    max_size = settings_of(request).max_page_size
    page = list_page(request.url, request.query_params, "organizations", items, render, max_size)
    return json_response(page)


@router.post(ROOT)
async def create_organization(request: Request) -> Response:
    org = store_of(request).create_organization(await read_root(request, "organization"))
    return _single(request, org, 201)


@router.get(f"{ROOT}/search")
async def search_organizations(request: Request) -> Response:
    def render(org: Organization) -> JsonDict:
        return render_organization(request, org)

    external_id, name = request.query_params.get("external_id"), request.query_params.get("name")
    if (external_id is None) == (name is None):
        raise invalid_value("Provide either external_id or name, but not both")
    items = store_of(request).search_organizations(external_id, name)
    max_size = settings_of(request).max_page_size
    page = offset_page(request.url, request.query_params, "organizations", items, render, max_size)
    return json_response(page)


@router.post(f"{ROOT}/create_or_update")
async def create_or_update_organization(request: Request) -> Response:
    org, created = store_of(request).create_or_update_organization(await read_root(request, "organization"))
    return _single(request, org, 201 if created else 200)


@router.post(f"{ROOT}/create_many")
async def create_many_organizations(request: Request) -> Response:
    items = bulk_items(await read_json(request), "organizations", settings_of(request).max_bulk_items)
    job = store_of(request).create_many_organizations(items)
    return json_response({"job_status": job.to_json(base_url(request))})


@router.put(f"{ROOT}/update_many")
async def update_many_organizations(request: Request) -> Response:
    targets = _update_targets(request, await read_json(request), settings_of(request).max_bulk_items)
    job = store_of(request).update_many_organizations(targets)
    return json_response({"job_status": job.to_json(base_url(request))})


@router.get(f"{ROOT}/{{org_id}}")
async def show_organization(request: Request, org_id: str) -> Response:
    return _single(request, store_of(request).get_organization(path_id(org_id)))


@router.put(f"{ROOT}/{{org_id}}")
async def update_organization(request: Request, org_id: str) -> Response:
    payload = await read_root(request, "organization")
    return _single(request, store_of(request).update_organization(path_id(org_id), payload))


@router.delete(f"{ROOT}/{{org_id}}")
async def delete_organization(request: Request, org_id: str) -> Response:
    store_of(request).delete_organization(path_id(org_id))
    return Response(status_code=204)


@router.get(f"{ROOT}/{{org_id}}/users")
async def organization_users(request: Request, org_id: str) -> Response:
    def render(user: User) -> JsonDict:
        return render_user(request, user)

    store = store_of(request)
    members = store.list_users(store.get_organization(path_id(org_id)).id)
    max_size = settings_of(request).max_page_size
    return json_response(list_page(request.url, request.query_params, "users", members, render, max_size))
