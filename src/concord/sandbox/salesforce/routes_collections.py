"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records in one call.

A request that cannot be read (over 200 records, no type, an unknown field, a value of the wrong JSON type)
fails whole with a REST error array. Otherwise the answer is 200 with one result per record in order; with
`allOrNone` any failure rolls every write back and the good records report ALL_OR_NONE_OPERATION_ROLLED_BACK.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.salesforce.dml import MultipleMatches, RecordError
from concord.sandbox.salesforce.errors import ApiError, FieldError, json_parser_error, unsupported_type
from concord.sandbox.salesforce.ids import normalize_id
from concord.sandbox.salesforce.routes_sobjects import key_field, selected_fields
from concord.sandbox.salesforce.schema import JsonValue, ObjectDef, Value, object_def, object_for_prefix
from concord.sandbox.salesforce.state import TwinState, sobject, twin
from concord.sandbox.salesforce.values import ForeignKey, deserialize, parse_body, render_record

MAX_RECORDS = 200
Result = dict[str, JsonValue]
Operation = Callable[[], Result]
_ROLLED_BACK = FieldError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records "
                          "were valid and the request was using AllOrNone header", ())


def _too_many(limit: int = MAX_RECORDS) -> ApiError:
    return ApiError.of(400, FieldError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                                       f"{limit} records into this call"))


def _failure(errors: list[FieldError]) -> Result:
    return {"success": False, "errors": [error.collection() for error in errors]}


def _success(record_id: str, created: bool | None = None) -> Result:
    result: Result = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        result["created"] = created
    return result


def _run(state: TwinState, operations: list[Operation], all_or_none: bool) -> list[Result]:
    """Apply each operation in order; on failure under allOrNone undo them all."""
    with state.store.journal() as journal:
        results: list[Result] = []
        for operation in operations:
            try:
                results.append(operation())
            except RecordError as error:
                results.append(_failure(error.errors))
        if all_or_none and not all(result["success"] for result in results):
            state.store.undo(journal)
            results = [_failure([_ROLLED_BACK]) if result["success"] else result for result in results]
    return results


def _envelope(body: JsonValue) -> tuple[list[JsonValue], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise json_parser_error("Cannot deserialize the request: expected an object with a records array")
    records = body["records"]
    assert isinstance(records, list)
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return records, body.get("allOrNone") is True


def _typed(record: JsonValue, raw: str) -> tuple[ObjectDef, dict[str, Value | ForeignKey]]:
    """The record's sObject (from `attributes.type`) and its deserialized values."""
    attributes = record.get("attributes") if isinstance(record, dict) else None
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(type_name, str) or not type_name:
        raise ApiError.of(400, FieldError("INVALID_TYPE", "Must send a concrete entity type."))
    obj = object_def(type_name)
    if obj is None:
        raise ApiError.of(400, unsupported_type(type_name))
    return obj, deserialize(obj, record, raw)


async def _records(request: Request) -> tuple[list[tuple[ObjectDef, dict[str, Value | ForeignKey]]], bool]:
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    records, all_or_none = _envelope(parse_body(raw))
    return [_typed(record, text) for record in records], all_or_none


def _update_op(state: TwinState, obj: ObjectDef, values: dict[str, Value | ForeignKey]) -> Operation:
    def run() -> Result:
        record_id = values.get("Id")
        if not isinstance(record_id, str):
            raise RecordError([FieldError("MISSING_ARGUMENT", "Id not specified in an update call", ())])
        return _success(state.dml.update(obj, record_id, values))
    return run


def _upsert_op(state: TwinState, obj: ObjectDef, key_name: str, values: dict[str, Value | ForeignKey]) -> Operation:
    field = key_field(obj, key_name)

    def run() -> Result:
        key = values.get(field.name)
        if key is None or isinstance(key, ForeignKey):
            raise RecordError([FieldError("MISSING_ARGUMENT", f"{field.name} not specified", ())])
        try:
            record_id, created = state.dml.upsert(obj, field, str(key), values)
        except MultipleMatches as many:
            raise RecordError([FieldError("DUPLICATE_EXTERNAL_ID", f"{field.name}: more than one record "
                                          f"found for external id field: {many.ids}", (field.name,))]) from many
        return _success(record_id, created)
    return run


def _delete_op(state: TwinState, raw_id: str) -> Operation:
    def run() -> Result:
        full = normalize_id(raw_id)
        obj = object_for_prefix(full[:3]) if full else None
        if full is None or obj is None:
            raise RecordError([FieldError("MALFORMED_ID", f"malformed id {raw_id}", ())])
        return _success(state.dml.delete(obj, full))
    return run


async def create(request: Request) -> JSONResponse:
    state = twin(request)
    records, all_or_none = await _records(request)

    def insert(obj: ObjectDef, values: dict[str, Value | ForeignKey]) -> Operation:
        return lambda: _success(state.dml.insert(obj, values))

    operations = [insert(obj, values) for obj, values in records]
    return JSONResponse(_run(state, operations, all_or_none))


async def update(request: Request) -> JSONResponse:
    state = twin(request)
    records, all_or_none = await _records(request)
    operations = [_update_op(state, obj, values) for obj, values in records]
    return JSONResponse(_run(state, operations, all_or_none))


async def upsert(request: Request, name: str, field_name: str) -> JSONResponse:
    state = twin(request)
    obj = sobject(name)
    key_field(obj, field_name)
    records, all_or_none = await _records(request)
    if any(record_obj is not obj for record_obj, _ in records):
        raise ApiError.of(400, FieldError("INVALID_TYPE", f"All records must be of type {obj.name}"))
    operations = [_upsert_op(state, obj, field_name, values) for _, values in records]
    return JSONResponse(_run(state, operations, all_or_none))


async def delete(request: Request) -> JSONResponse:
    state = twin(request)
    ids = [part for part in request.query_params.get("ids", "").split(",") if part]
    if not ids:
        raise ApiError.of(400, FieldError("MISSING_ARGUMENT", "ids parameter is required"))
    if len(ids) > MAX_RECORDS:
        raise _too_many()
    all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
    return JSONResponse(_run(state, [_delete_op(state, raw_id) for raw_id in ids], all_or_none))


async def retrieve(request: Request, version: str, name: str) -> JSONResponse:
    state = twin(request)
    obj = sobject(name)
    ids = [part for part in request.query_params.get("ids", "").split(",") if part]
    if len(ids) > 2000:
        raise _too_many(2000)
    fields = selected_fields(obj, request.query_params.get("fields")) or list(obj.fields)
    results: list[JsonValue] = []
    with state.store.lock:
        for raw_id in ids:
            row = state.store.get(obj, raw_id)
            live = row is not None and not row["IsDeleted"]
            results.append(render_record(obj, row, version, fields) if live and row else None)
    return JSONResponse(results)


def collections_router() -> APIRouter:
    router = APIRouter(prefix="/services/data/{version}/composite/sobjects")
    router.add_api_route("", create, methods=["POST"])
    router.add_api_route("", update, methods=["PATCH"])
    router.add_api_route("/{name}/{field_name}", upsert, methods=["PATCH"])
    router.add_api_route("", delete, methods=["DELETE"])
    router.add_api_route("/{name}", retrieve, methods=["GET"])
    return router
