"""Job statuses, incremental exports (change capture) and the twin's own admin endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from concord.sandbox.zendesk.guard import new_limiter
from concord.sandbox.zendesk.models import JsonDict, Organization, User
from concord.sandbox.zendesk.paging import cursor_based_export, time_based_export
from concord.sandbox.zendesk.web import (
    base_url,
    json_response,
    render_organization,
    render_user,
    settings_of,
    store_of,
)

router = APIRouter()
ADMIN = "/__twin__"


@router.get("/api/v2/job_statuses/{job_id}")
async def show_job_status(request: Request, job_id: str) -> Response:
    job = store_of(request).get_job(job_id)
    return json_response({"job_status": job.to_json(base_url(request), settings_of(request).clock())})


@router.get("/api/v2/incremental/organizations")
async def incremental_organizations(request: Request) -> Response:
    def render(org: Organization) -> JsonDict:
        return render_organization(request, org)

    store, settings = store_of(request), settings_of(request)
    body = time_based_export(
        request.url,
        request.query_params,
        "organizations",
        store.list_organizations(),
        render,
        store.now(),
        settings.incremental_min_age_s,
        settings.incremental_max_per_page,
    )
    return json_response(body)


@router.get("/api/v2/incremental/users/cursor")
async def incremental_users_cursor(request: Request) -> Response:
    def render(user: User) -> JsonDict:
        return render_user(request, user)

    store, settings = store_of(request), settings_of(request)
    body = cursor_based_export(
        request.url,
        request.query_params,
        "users",
        store.list_users(),
        render,
        store.now(),
        settings.incremental_min_age_s,
        settings.incremental_max_per_page,
    )
    return json_response(body)


@router.get("/api/v2/incremental/users")
async def incremental_users(request: Request) -> Response:
    def render(user: User) -> JsonDict:
        return render_user(request, user)

    store, settings = store_of(request), settings_of(request)
    body = time_based_export(
        request.url,
        request.query_params,
        "users",
        store.list_users(),
        render,
        store.now(),
        settings.incremental_min_age_s,
        settings.incremental_max_per_page,
    )
    return json_response(body)


@router.post(f"{ADMIN}/reset")
async def admin_reset(request: Request) -> Response:
    """Empties the account and forgets the requests counted against the rate limit."""
    store_of(request).reset()
    request.app.state.limiter = new_limiter(settings_of(request))
    return json_response({"reset": True})


@router.get(f"{ADMIN}/counts")
async def admin_counts(request: Request) -> Response:
    return json_response(dict(store_of(request).counts()))
