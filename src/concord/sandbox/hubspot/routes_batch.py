"""`/crm/v3/objects/{objectType}/batch/*`: up to 100 inputs per call.

Validation failures and unique-value conflicts reject the whole batch (400 / 409) as HubSpot does; ids
that do not resolve to a record are reported per input in a 207 Multi-Status with `errors`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from concord.sandbox.hubspot.errors import validation_error
from concord.sandbox.hubspot.render import JsonObject, render
from concord.sandbox.hubspot.routes_objects import spec_for
from concord.sandbox.hubspot.schemas import (
    BatchArchive,
    BatchCreate,
    BatchRead,
    BatchUpdate,
    BatchUpsert,
    read_body,
)
from concord.sandbox.hubspot.settings import HubSpotTwinSettings
from concord.sandbox.hubspot.store import CrmObject, TwinStore
from concord.sandbox.hubspot.timefmt import iso_from_ms
from concord.sandbox.hubspot.values import PropValue

# Reading property history is capped lower than plain batch reads.
MAX_HISTORY_INPUTS = 50


def _check_size(count: int, limit: int) -> None:
    if count > limit:
        raise validation_error(
            f"The maximum number of inputs supported in a batch request is {limit}. "
            "Please reduce the number of items and try again"
        )


def _check_duplicates(ids: Sequence[str]) -> None:
    repeated = sorted(key for key, seen in Counter(ids).items() if seen > 1)
    if repeated:
        raise validation_error(f"Duplicate IDs found in batch input: [{', '.join(repeated)}]")


def _not_found(verb: str, label: str, ids: list[str]) -> JsonObject:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not {verb} some {label.upper()} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
        "links": {},
        "errors": [],
    }


class _Clock:
    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self.started = iso_from_ms(now_ms())

    def respond(self, results: list[JsonObject], errors: list[JsonObject], ok_status: int) -> JSONResponse:
        body: JsonObject = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = self.started
        body["completedAt"] = iso_from_ms(self.now_ms())
        return JSONResponse(body, status_code=207 if errors else ok_status)


def _upsert_key(spec_name: str, store: TwinStore, body: BatchUpsert) -> str:
    keys = {item.id_property for item in body.inputs}
    if len(keys) > 1:
        raise validation_error("All inputs of a batch upsert must use the same idProperty.")
    key = keys.pop() if keys else None
    if not key or key not in store.table(spec_name).unique_names():
        raise validation_error(
            f"idProperty {key} must be a property with unique values to upsert {spec_name}."
        )
    return key


class BatchEndpoints:
    """Handlers bound to one store; `router()` mounts them under `/crm/v3/objects/{objectType}/batch`."""

    def __init__(self, store: TwinStore, settings: HubSpotTwinSettings) -> None:
        self.store = store
        self.settings = settings
        self.limit = settings.max_batch_inputs

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/crm/v3/objects/{object_type}/batch")
        for verb, handler in (
            ("create", self.create), ("read", self.read), ("update", self.update),
            ("upsert", self.upsert), ("archive", self.archive),
        ):
            router.add_api_route(f"/{verb}", handler, methods=["POST"])
        return router

    def _timer(self) -> _Clock:
        wall_clock = self.settings.wall_clock
        return _Clock(lambda: int(wall_clock() * 1000))

    async def create(self, request: Request, object_type: str) -> Response:
        spec, timer = spec_for(object_type), self._timer()
        body = await read_body(request, BatchCreate)
        _check_size(len(body.inputs), self.limit)
        created = self.store.create_many(spec.name, [item.properties for item in body.inputs])
        table = self.store.table(spec.name)
        return timer.respond([render(table, o, None) for o in created], [], 201)

    async def read(self, request: Request, object_type: str, archived: bool = False) -> Response:
        spec, timer = spec_for(object_type), self._timer()
        body = await read_body(request, BatchRead)
        _check_size(len(body.inputs), MAX_HISTORY_INPUTS if body.properties_with_history else self.limit)
        found: list[CrmObject] = []
        missing: list[str] = []
        for item in body.inputs:
            obj = self.store.find(spec.name, item.id, body.id_property, archived=archived)
            if obj is None:
                missing.append(item.id)
            else:
                found.append(obj)
        table = self.store.table(spec.name)
        errors = [_not_found("get", spec.singular, missing)] if missing else []
        return timer.respond([render(table, o, body.properties) for o in found], errors, 200)

    async def update(self, request: Request, object_type: str) -> Response:
        spec, timer = spec_for(object_type), self._timer()
        body = await read_body(request, BatchUpdate)
        _check_size(len(body.inputs), self.limit)
        _check_duplicates([item.id for item in body.inputs])
        resolved: list[tuple[str, dict[str, PropValue]]] = []
        missing: list[str] = []
        for item in body.inputs:
            obj = self.store.find(spec.name, item.id, item.id_property)
            if obj is None:
                missing.append(item.id)
            else:
                resolved.append((obj.id, item.properties))
        updated = self.store.update_many(spec.name, resolved)
        table = self.store.table(spec.name)
        errors = [_not_found("update", spec.singular, missing)] if missing else []
        return timer.respond([render(table, o, None) for o in updated], errors, 200)

    async def upsert(self, request: Request, object_type: str) -> Response:
        spec, timer = spec_for(object_type), self._timer()
        body = await read_body(request, BatchUpsert)
        _check_size(len(body.inputs), self.limit)
        key = _upsert_key(spec.name, self.store, body)
        _check_duplicates([item.id for item in body.inputs])
        outcome = self.store.upsert_many(spec.name, key, [(item.id, item.properties) for item in body.inputs])
        table = self.store.table(spec.name)
        results = [{**render(table, obj, None), "new": created} for obj, created in outcome]
        return timer.respond(results, [], 200)

    async def archive(self, request: Request, object_type: str) -> Response:
        spec = spec_for(object_type)
        body = await read_body(request, BatchArchive)
        _check_size(len(body.inputs), self.limit)
        for item in body.inputs:
            self.store.archive(spec.name, item.id)
        return Response(status_code=204)
