"""Request plumbing shared by the twin's routes: body parsing, ids, the store, and error rendering."""

from __future__ import annotations

import json
from typing import Any, cast

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from concord.sandbox.zendesk.errors import ZendeskError, bad_request_text, not_found
from concord.sandbox.zendesk.models import JsonDict, Organization, User
from concord.sandbox.zendesk.settings import ZendeskTwinSettings
from concord.sandbox.zendesk.store import ZendeskStore


def store_of(request: Request) -> ZendeskStore:
    return cast(ZendeskStore, request.app.state.store)


def settings_of(request: Request) -> ZendeskTwinSettings:
    return cast(ZendeskTwinSettings, request.app.state.settings)


def base_url(request: Request) -> str:
    # Record and page URLs point back at the twin itself so clients can follow them.
    return str(request.base_url).rstrip("/")


def render_organization(request: Request, org: Organization) -> JsonDict:
    return org.to_json(base_url(request), settings_of(request).organization_fields)


def render_user(request: Request, user: User) -> JsonDict:
    return user.to_json(base_url(request), settings_of(request).user_fields)


def path_id(raw: str) -> int:
    if not raw.isdigit():
        raise not_found()
    return int(raw)


async def read_json(request: Request) -> JsonDict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data: Any = json.loads(raw)
    except ValueError:
        raise bad_request_text() from None
    if not isinstance(data, dict):
        raise bad_request_text()
    return data


async def read_root(request: Request, key: str) -> JsonDict:
    """The object under the resource's root key; absent or malformed roots read as empty."""
    root = (await read_json(request)).get(key)
    return root if isinstance(root, dict) else {}


def json_response(body: JsonDict, status: int = 200, location: str | None = None) -> JSONResponse:
    headers = {"Location": location} if location else None
    return JSONResponse(body, status_code=status, headers=headers)


def error_response(exc: ZendeskError) -> Response:
    if isinstance(exc.body, str):
        return PlainTextResponse(exc.body, status_code=exc.status, headers=exc.headers)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
