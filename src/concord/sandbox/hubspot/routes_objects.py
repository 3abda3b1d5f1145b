"""`/crm/v3/objects/{objectType}`: create, read, update, archive, list and search single records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from concord.sandbox.hubspot import search
from concord.sandbox.hubspot.catalog import ObjectTypeSpec, resolve_object_type
from concord.sandbox.hubspot.errors import object_not_found, validation_error
from concord.sandbox.hubspot.render import render, split_names
from concord.sandbox.hubspot.schemas import ObjectInput, SearchRequest, read_body
from concord.sandbox.hubspot.settings import HubSpotTwinSettings
from concord.sandbox.hubspot.store import CrmObject, TwinStore

NameList = Annotated[list[str] | None, Query()]
IdProperty = Annotated[str | None, Query(alias="idProperty")]


def spec_for(raw: str) -> ObjectTypeSpec:
    spec = resolve_object_type(raw)
    if spec is None:
        raise validation_error(f"Unable to infer object type from: {raw}")
    return spec


def _page(objects: list[CrmObject], after: str | None, limit: int) -> tuple[list[CrmObject], str | None]:
    """Id-ordered page starting at the record whose id is `after`; the cursor names the next record."""
    if after is not None and not after.isdigit():
        raise validation_error(f"Invalid paging cursor: {after}")
    start = int(after) if after else 0
    remaining = [o for o in objects if int(o.id) >= start]
    page = remaining[:limit]
    return page, (remaining[limit].id if len(remaining) > limit else None)


class ObjectEndpoints:
    """Handlers bound to one store; `router()` mounts them under `/crm/v3/objects/{objectType}`."""

    def __init__(self, store: TwinStore, settings: HubSpotTwinSettings) -> None:
        self.store = store
        self.settings = settings

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/crm/v3/objects/{object_type}")
        router.add_api_route("", self.list_objects, methods=["GET"])
        router.add_api_route("", self.create_object, methods=["POST"])
        router.add_api_route("/search", self.search_objects, methods=["POST"])
        router.add_api_route("/{object_id}", self.get_object, methods=["GET"])
        router.add_api_route("/{object_id}", self.update_object, methods=["PATCH"])
        router.add_api_route("/{object_id}", self.archive_object, methods=["DELETE"])
        return router

    async def list_objects(
        self, request: Request, object_type: str, limit: int = 10, after: str | None = None,
        properties: NameList = None, archived: bool = False,
    ) -> Response:
        spec = spec_for(object_type)
        if not 1 <= limit <= self.settings.max_page_size:
            raise validation_error(f"limit must be between 1 and {self.settings.max_page_size}; was {limit}.")
        table = self.store.table(spec.name)
        page, cursor = _page(self.store.snapshot(spec.name, archived=archived), after, limit)
        body: dict[str, object] = {"results": [render(table, o, split_names(properties or [])) for o in page]}
        if cursor is not None:
            link = str(request.url.include_query_params(after=cursor))
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return JSONResponse(body)

    async def create_object(self, request: Request, object_type: str) -> Response:
        spec = spec_for(object_type)
        body = await read_body(request, ObjectInput)
        created = self.store.create_many(spec.name, [body.properties])[0]
        return JSONResponse(render(self.store.table(spec.name), created, None), status_code=201)

    async def get_object(
        self, object_type: str, object_id: str, properties: NameList = None,
        archived: bool = False, id_property: IdProperty = None,
    ) -> Response:
        spec = spec_for(object_type)
        found = self.store.find(spec.name, object_id, id_property, archived=archived)
        if found is None:
            raise object_not_found(object_id)
        return JSONResponse(render(self.store.table(spec.name), found, split_names(properties or [])))

    async def update_object(
        self, request: Request, object_type: str, object_id: str, id_property: IdProperty = None
    ) -> Response:
        spec = spec_for(object_type)
        body = await read_body(request, ObjectInput)
        found = self.store.find(spec.name, object_id, id_property)
        if found is None:
            raise object_not_found(object_id)
        updated = self.store.update_many(spec.name, [(found.id, body.properties)])[0]
        return JSONResponse(render(self.store.table(spec.name), updated, None))

    async def archive_object(self, object_type: str, object_id: str) -> Response:
        spec = spec_for(object_type)
        # HubSpot answers 204 whether or not the record existed.
        self.store.archive(spec.name, object_id)
        return Response(status_code=204)

    async def search_objects(self, request: Request, object_type: str) -> Response:
        spec = spec_for(object_type)
        body = await read_body(request, SearchRequest)
        table = self.store.table(spec.name)
        search.validate(table, body, self.settings.max_search_limit)
        objects = self.store.snapshot(spec.name)
        page, total, after = search.run(table, objects, body, self.settings.max_search_results)
        results = [render(table, o, body.properties) for o in page]
        result: dict[str, object] = {"total": total, "results": results}
        if after is not None:
            result["paging"] = {"next": {"after": after}}
        return JSONResponse(result)
