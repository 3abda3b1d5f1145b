"""sObject resources: describe, create, retrieve, update, delete, and rows by external id (upsert)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from concord.sandbox.salesforce.describe import describe_global, describe_object
from concord.sandbox.salesforce.dml import MultipleMatches, RecordError
from concord.sandbox.salesforce.errors import ApiError, no_such_column, not_found
from concord.sandbox.salesforce.ids import normalize_id
from concord.sandbox.salesforce.schema import FieldDef, ObjectDef, Value
from concord.sandbox.salesforce.state import sobject, twin
from concord.sandbox.salesforce.store import Row
from concord.sandbox.salesforce.values import ForeignKey, deserialize, parse_body, render_record

# In API 45.0 and earlier an upsert that updated answered 204 with no body; from 46.0 it is 200 + `created`.
_UPSERT_BODY_SINCE = 46


def _major(version: str) -> int:
    match = re.match(r"v(\d+)", version)
    return int(match.group(1)) if match else 0


def _rest_error(error: RecordError) -> ApiError:
    return ApiError.of(error.status, *error.errors)


def _record_id(obj: ObjectDef, raw: str) -> str:
    """Salesforce reads a non-id path segment as an external id field name it cannot find."""
    full = normalize_id(raw)
    if full is None:
        raise not_found(f"Provided external ID field does not exist or is not accessible: {raw}")
    if full[:3] != obj.key_prefix:
        raise not_found()
    return full


def key_field(obj: ObjectDef, name: str) -> FieldDef:
    field = obj.field(name)
    if field is None or not (field.external_id or field.type == "id"):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {name}")
    return field


def selected_fields(obj: ObjectDef, fields_param: str | None) -> list[FieldDef] | None:
    if not fields_param:
        return None
    chosen = []
    for name in (part.strip() for part in fields_param.split(",") if part.strip()):
        field = obj.field(name)
        if field is None:
            raise no_such_column(name, obj.name)
        chosen.append(field)
    return chosen


def _by_key(request: Request, obj: ObjectDef, field: FieldDef, value: str) -> Row:
    """The one live row whose external id is `value`; 404 for none, 300 with the candidates for several."""
    state = twin(request)
    if field.type == "id":
        try:
            return state.dml.live_row(obj, _record_id(obj, value))
        except RecordError as error:
            raise not_found() from error
    rows = state.store.find(obj, field.name, value)
    if not rows:
        raise not_found()
    if len(rows) > 1:
        version = request.path_params["version"]
        raise ApiError(300, [f"/services/data/{version}/sobjects/{obj.name}/{row['Id']}" for row in rows])
    return rows[0]


def _save_result(record_id: str, created: bool | None = None) -> dict[str, object]:
    result: dict[str, object] = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        result["created"] = created
    return result


async def _values(request: Request, obj: ObjectDef) -> dict[str, Value | ForeignKey]:
    raw = await request.body()
    return deserialize(obj, parse_body(raw), raw.decode("utf-8", errors="replace"))


async def _insert(request: Request, obj: ObjectDef) -> str:
    values = await _values(request, obj)
    state = twin(request)
    try:
        with state.store.lock:
            return state.dml.insert(obj, values)
    except RecordError as error:
        raise _rest_error(error) from error


async def global_describe(version: str) -> JSONResponse:
    return JSONResponse(describe_global(version, 200))


async def basic_info(request: Request, version: str, name: str) -> JSONResponse:
    obj = sobject(name)
    summary = {k: v for k, v in describe_object(obj, version).items() if k != "fields"}
    return JSONResponse({"objectDescribe": summary, "recentItems": []})


async def describe(request: Request, version: str, name: str) -> JSONResponse:
    restricted = twin(request).settings.restricted_custom_picklists
    return JSONResponse(describe_object(sobject(name), version, restricted))


async def create(request: Request, version: str, name: str) -> JSONResponse:
    obj = sobject(name)
    record_id = await _insert(request, obj)
    location = f"/services/data/{version}/sobjects/{obj.name}/{record_id}"
    return JSONResponse(_save_result(record_id), status_code=201, headers={"Location": location})


async def retrieve(request: Request, version: str, name: str, record_id: str) -> JSONResponse:
    obj = sobject(name)
    state = twin(request)
    with state.store.lock:
        row = state.store.get(obj, _record_id(obj, record_id))
        if row is None or row["IsDeleted"]:
            raise not_found()
        fields = selected_fields(obj, request.query_params.get("fields"))
        return JSONResponse(render_record(obj, row, version, fields))


async def update(request: Request, name: str, record_id: str) -> Response:
    obj = sobject(name)
    full = _record_id(obj, record_id)
    values = await _values(request, obj)
    state = twin(request)
    try:
        with state.store.lock:
            state.dml.update(obj, full, values)
    except RecordError as error:
        raise _rest_error(error) from error
    return Response(status_code=204)


async def delete(request: Request, name: str, record_id: str) -> Response:
    obj = sobject(name)
    state = twin(request)
    try:
        with state.store.lock:
            state.dml.delete(obj, _record_id(obj, record_id))
    except RecordError as error:
        raise _rest_error(error) from error
    return Response(status_code=204)


async def create_by_id_field(request: Request, name: str) -> JSONResponse:
    # API 37.0+: POST to .../sobjects/Account/Id inserts, as an upsert on Id with a null value would.
    record_id = await _insert(request, sobject(name))
    return JSONResponse(_save_result(record_id, created=True), status_code=201)


async def retrieve_by_key(request: Request, version: str, name: str, field_name: str,
                          value: str) -> JSONResponse:
    obj = sobject(name)
    state = twin(request)
    with state.store.lock:
        row = _by_key(request, obj, key_field(obj, field_name), value)
        fields = selected_fields(obj, request.query_params.get("fields"))
        return JSONResponse(render_record(obj, row, version, fields))


async def upsert(request: Request, version: str, name: str, field_name: str, value: str) -> Response:
    obj = sobject(name)
    key = key_field(obj, field_name)
    values = await _values(request, obj)
    state = twin(request)
    try:
        with state.store.lock:
            record_id, created = state.dml.upsert(obj, key, value, values)
    except MultipleMatches as many:
        raise ApiError(300, [f"/services/data/{version}/sobjects/{obj.name}/{i}" for i in many.ids]) from many
    except RecordError as error:
        raise _rest_error(error) from error
    if created:
        return JSONResponse(_save_result(record_id, created=True), status_code=201)
    if _major(version) < _UPSERT_BODY_SINCE:
        return Response(status_code=204)
    return JSONResponse(_save_result(record_id, created=False), status_code=200)


async def delete_by_key(request: Request, name: str, field_name: str, value: str) -> Response:
    obj = sobject(name)
    state = twin(request)
    with state.store.lock:
        row = _by_key(request, obj, key_field(obj, field_name), value)
        state.dml.delete(obj, str(row["Id"]))
    return Response(status_code=204)


def sobjects_router() -> APIRouter:
    router = APIRouter(prefix="/services/data/{version}/sobjects")
    # Order matters: literal segments (describe, Id) before the catch-all id and external-id patterns.
    router.add_api_route("", global_describe, methods=["GET"])
    router.add_api_route("/{name}", basic_info, methods=["GET"])
    router.add_api_route("/{name}/describe", describe, methods=["GET"])
    router.add_api_route("/{name}", create, methods=["POST"])
    router.add_api_route("/{name}/{record_id}", retrieve, methods=["GET"])
    router.add_api_route("/{name}/{record_id}", update, methods=["PATCH"])
    router.add_api_route("/{name}/{record_id}", delete, methods=["DELETE"])
    router.add_api_route("/{name}/Id", create_by_id_field, methods=["POST"])
    router.add_api_route("/{name}/id", create_by_id_field, methods=["POST"])
    router.add_api_route("/{name}/{field_name}/{value:path}", retrieve_by_key, methods=["GET"])
    router.add_api_route("/{name}/{field_name}/{value:path}", upsert, methods=["PATCH"])
    router.add_api_route("/{name}/{field_name}/{value:path}", delete_by_key, methods=["DELETE"])
    return router
