"""SOQL resources: `/query` and `/queryAll` (which also returns deleted rows), and their `nextRecordsUrl`
locators. The batch size is the twin's setting, or `Sforce-Query-Options: batchSize=N` (200..2000)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from concord.sandbox.salesforce.errors import ApiError, FieldError
from concord.sandbox.salesforce.query import Executor
from concord.sandbox.salesforce.soql import parse
from concord.sandbox.salesforce.state import TwinState, twin

_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def _batch_size(state: TwinState, request: Request) -> int:
    match = _BATCH_OPTION.search(request.headers.get("sforce-query-options", ""))
    if match is None:
        return state.settings.query_batch_size
    return min(max(int(match.group(1)), 200), 2000)


def _run(request: Request, version: str, endpoint: str) -> JSONResponse:
    soql = request.query_params.get("q")
    if not soql:
        raise ApiError.of(400, FieldError("MALFORMED_QUERY", "A query string has to be specified"))
    query = parse(soql)
    state = twin(request)
    executor = Executor(state.store, version)
    rows = executor.run(query, include_deleted=endpoint == "queryAll")
    if query.count:
        return JSONResponse({"totalSize": len(rows), "done": True, "records": []})
    with state.store.lock:
        records = [executor.render(query, row) for row in rows]
    return JSONResponse(state.cursors.first_page(version, endpoint, records, _batch_size(state, request)))


async def query(request: Request, version: str) -> JSONResponse:
    return _run(request, version, "query")


async def query_all(request: Request, version: str) -> JSONResponse:
    return _run(request, version, "queryAll")


async def query_more(request: Request, version: str, locator: str) -> JSONResponse:
    return JSONResponse(twin(request).cursors.next_page(version, "query", locator))


async def query_all_more(request: Request, version: str, locator: str) -> JSONResponse:
    return JSONResponse(twin(request).cursors.next_page(version, "queryAll", locator))


def query_router() -> APIRouter:
    router = APIRouter(prefix="/services/data/{version}")
    router.add_api_route("/query", query, methods=["GET"])
    router.add_api_route("/queryAll", query_all, methods=["GET"])
    router.add_api_route("/query/{locator}", query_more, methods=["GET"])
    router.add_api_route("/queryAll/{locator}", query_all_more, methods=["GET"])
    return router
