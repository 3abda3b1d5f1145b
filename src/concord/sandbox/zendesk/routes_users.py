"""`/api/v2/users`: create, show, update, create_or_update (single and many), list and search."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from concord.sandbox.zendesk.errors import invalid_value
from concord.sandbox.zendesk.models import JsonDict, User
from concord.sandbox.zendesk.paging import list_page, offset_page
from concord.sandbox.zendesk.routes_orgs import bulk_items
from concord.sandbox.zendesk.web import (
    base_url,
    json_response,
    path_id,
    read_json,
    read_root,
    render_user,
    settings_of,
    store_of,
)

router = APIRouter()
ROOT = "/api/v2/users"


def _single(request: Request, user: User, status: int = 200) -> Response:
    body = {"user": render_user(request, user)}
    location = body["user"]["url"] if status == 201 else None
    return json_response(body, status, location)


@router.get(ROOT)
async def list_users(request: Request) -> Response:
    def render(user: User) -> JsonDict:
        return render_user(request, user)

    items = store_of(request).list_users()
    max_size = settings_of(request).max_page_size
    return json_response(list_page(request.url, request.query_params, "users", items, render, max_size))


@router.post(ROOT)
async def create_user(request: Request) -> Response:
    user = store_of(request).create_user(await read_root(request, "user"))
    return _single(request, user, 201)


@router.get(f"{ROOT}/search")
async def search_users(request: Request) -> Response:
    def render(user: User) -> JsonDict:
        return render_user(request, user)

    query, external_id = request.query_params.get("query"), request.query_params.get("external_id")
    if query is None and external_id is None:
        raise invalid_value("Provide either query or external_id")
    items = store_of(request).search_users(query, external_id)
    max_size = settings_of(request).max_page_size
    return json_response(offset_page(request.url, request.query_params, "users", items, render, max_size))


@router.post(f"{ROOT}/create_or_update")
async def create_or_update_user(request: Request) -> Response:
    user, created = store_of(request).create_or_update_user(await read_root(request, "user"))
    return _single(request, user, 201 if created else 200)


@router.post(f"{ROOT}/create_or_update_many")
async def create_or_update_many_users(request: Request) -> Response:
    items = bulk_items(await read_json(request), "users", settings_of(request).max_bulk_items)
    job = store_of(request).create_or_update_many_users(items)
    return json_response({"job_status": job.to_json(base_url(request))})


@router.get(f"{ROOT}/{{user_id}}")
async def show_user(request: Request, user_id: str) -> Response:
    return _single(request, store_of(request).get_user(path_id(user_id)))


@router.put(f"{ROOT}/{{user_id}}")
async def update_user(request: Request, user_id: str) -> Response:
    payload = await read_root(request, "user")
    return _single(request, store_of(request).update_user(path_id(user_id), payload))
