"""SCIM 2.0 over HTTP through the resilience runtime, with the SCIM error schema mapped to typed errors.

Every request takes a governor token, goes through the endpoint's breaker; `call` retries it under the
`RetryPolicy`, `send` is one attempt (used inside the connector's own create attempts, which must look a
record up before repeating a POST). Bodies are `application/scim+json` (RFC 7644 §3.1).

Errors (RFC 7644 §3.12): `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "409",
"scimType": "uniqueness", "detail": ...}`. `uniqueness` (409) and a failed `If-Match` (412) are conflicts;
400 with `invalidValue`, `invalidSyntax`, `invalidPath`, `noTarget`, `mutability`, `invalidFilter`,
`tooMany` ... is data the provider refused — the offending attribute is read from `detail` when it names one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from concord.connectors.base import (
    AmbiguousWrite,
    AuthError,
    Conflict,
    ConnectorError,
    DataRejected,
    ExternalRecord,
    NotFound,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.breaker import BreakerRegistry
from concord.connectors.runtime.caller import ResilientCaller
from concord.connectors.runtime.clock import Clock, SystemClock
from concord.connectors.runtime.errors import error_for_response, error_for_transport, is_write
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import OPERATION_EXTENSION, CallRecorder, InMemoryCallRecorder, build_http_client
from concord.connectors.runtime.retry import Retrier
from concord.connectors.scim.auth import ScimAuth
from concord.connectors.scim.config import SYSTEM, ScimConfig, ScimFeatures

JsonDict = dict[str, Any]
Params = Mapping[str, str | int]

SCIM_JSON = "application/scim+json"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_ATTRIBUTE = re.compile(r"^[A-Za-z][\w.:$-]*$")
_SERVER_OWNED = frozenset({"schemas", "id", "meta"})
# "Field 'userName' is required ..." (scim2-models) or "<pydantic message>: emails[0].value".
_FIELD_QUOTED = re.compile(r"\b[Ff]ield '([^']+)'")
_FIELD_SUFFIX = re.compile(r":\s*([A-Za-z][\w.:$\[\]-]*)\s*$")


def last_modified(resource: Mapping[str, Any]) -> str | None:
    """`meta.lastModified` exactly as the provider wrote it (cursors reuse the string, with its precision)."""
    meta = resource.get("meta")
    value = meta.get("lastModified") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def record_of(obj: str, resource: JsonDict) -> ExternalRecord:
    stamp = last_modified(resource)
    modified = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    meta = resource.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    return ExternalRecord(object=obj, id=str(resource.get("id")), fields=dict(resource), modified_at=modified,
                          version=version if isinstance(version, str) and version else None)


def writable(fields: Mapping[str, Any]) -> JsonDict:
    """Without the attributes the provider owns (`schemas` is set per request, `id` and `meta` are read-only)."""
    return {k: v for k, v in fields.items() if k not in _SERVER_OWNED}


def filter_literal(value: object) -> str:
    """A filter comparison value (RFC 7644 §3.4.2.2): JSON literals, strings JSON-quoted and escaped."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(str(value))


def equality_filter(criteria: Mapping[str, Any]) -> str:
    """`a eq "x" and b eq "y"`; attribute names are checked, so a criterion cannot inject filter syntax."""
    for name in criteria:
        if not _ATTRIBUTE.match(name):
            raise DataRejected(SYSTEM, f"{name!r} is not a SCIM attribute path", field=name, code="invalidFilter")
    return " and ".join(f"{name} eq {filter_literal(value)}" for name, value in criteria.items())


def patch_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": operations}


def bulk_status(operation: Mapping[str, Any]) -> int:
    """An operation's status in a BulkResponse: a string such as "201" (RFC 7644 §3.7.3)."""
    raw = str(operation.get("status") or "")
    return int(raw[:3]) if raw[:3].isdigit() else 0


def bulk_error(answer: Mapping[str, Any], where: str) -> ConnectorError | None:
    """None for a 2xx operation of a BulkResponse, else its typed error."""
    status = bulk_status(answer)
    if 200 <= status < 300:
        return None
    response = answer.get("response")
    body = response if isinstance(response, dict) else {}
    generic = ConnectorError(SYSTEM, f"{where}: bulk operation answered {status or 'nothing'}")
    return error_from_body(status, body, where) or generic


def field_from_detail(detail: str) -> str | None:
    if (match := _FIELD_QUOTED.search(detail)) is not None:
        return match.group(1)
    if (match := _FIELD_SUFFIX.search(detail)) is not None:
        return match.group(1)
    return None


def error_from_body(status: int, body: Mapping[str, Any], where: str) -> ConnectorError | None:
    """The typed error for a 4xx SCIM error body (a response, or one operation of a /Bulk response)."""
    detail = str(body.get("detail") or f"HTTP {status}")
    scim_type = body.get("scimType")
    message = f"{where}: {detail}"
    if status == 404:
        return NotFound(SYSTEM, message)
    if status in (401, 403):
        return AuthError(SYSTEM, message)
    if status in (409, 412) or scim_type == "uniqueness":
        return Conflict(SYSTEM, message)
    if 400 <= status < 500 and status != 429:
        return DataRejected(SYSTEM, message, field=field_from_detail(detail), code=str(scim_type or status))
    return None


def _body(response: httpx.Response) -> JsonDict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def scim_error(response: httpx.Response) -> ConnectorError | None:
    generic = error_for_response(SYSTEM, response)
    if generic is None or isinstance(generic, RetryableError):
        return generic  # 429 and 5xx keep the runtime's transport rules (Retry-After, ambiguous writes)
    where = f"{response.request.method} {response.request.url.path}"
    return error_from_body(response.status_code, _body(response), where) or generic


class ScimClient:
    """Typed JSON calls to one SCIM service provider."""

    def __init__(
        self,
        config: ScimConfig,
        auth: ScimAuth,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        governor: RateGovernor | None = None,
        recorder: CallRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.auth = auth
        self.clock: Clock = clock or SystemClock()
        limits = {SYSTEM: config.rate_limit} if config.rate_limit is not None else {}
        self.governor = governor or RateGovernor(limits, clock=self.clock)
        self.key = RateKey(config.tenant, SYSTEM, auth.credential_id)
        retrier = Retrier(config.retry, self.clock, rng)
        self.caller = ResilientCaller(retrier, BreakerRegistry(config.breaker, self.clock))
        self.recorder = recorder or InMemoryCallRecorder()
        headers = {"Accept": f"{SCIM_JSON}, application/json"}
        self._http = build_http_client(SYSTEM, config.root, self.recorder, config.http, headers=headers,
                                       inner=transport)

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Params | None = None,
        body: JsonDict | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonDict:
        """One logical call: breaker and retries around `send`. Only for idempotent requests."""

        def attempt() -> JsonDict:
            return self.send(method, path, operation, params=params, body=body, headers=headers)

        return self.caller.call(self.key, operation, attempt)

    def send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Params | None = None,
        body: JsonDict | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonDict:
        """One governed attempt; a 401 gets one token refresh and one repeat when a refresher is set."""
        response = self._transmit(method, path, operation, params, body, headers)
        if response.status_code == 401 and self.auth.refresh(response.request.headers.get("authorization")):
            response = self._transmit(method, path, operation, params, body, headers)
        error = scim_error(response)
        if error is not None:
            if isinstance(error, RateLimited) and error.retry_after:
                self.governor.pause(self.key, error.retry_after)
            raise error
        if response.status_code == 204 or not response.content:
            return {}
        data = _body(response)
        if not data:
            kind = AmbiguousWrite if is_write(response.request) else RetryableError
            raise kind(SYSTEM, f"{method} {path}: {response.status_code} without a JSON object body")
        return data

    def _transmit(
        self,
        method: str,
        path: str,
        operation: str,
        params: Params | None,
        body: JsonDict | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        self.governor.acquire(self.key)
        extra = dict(headers or {})
        if (authorization := self.auth.header()) is not None:
            extra["Authorization"] = authorization
        if body is not None:
            extra["Content-Type"] = SCIM_JSON
        request = self._http.build_request(
            method,
            path,
            params=dict(params) if params else None,
            content=None if body is None else json.dumps(body).encode(),
            headers=extra,
            extensions={OPERATION_EXTENSION: operation},
        )
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise error_for_transport(SYSTEM, request, exc) from exc

    def bulk(self, operations: list[JsonDict]) -> dict[str, JsonDict]:
        """POST /Bulk (retried whole: callers only send operations that are safe to replay), answers by bulkId."""
        body = self.call("POST", "/Bulk", "bulk", body={"schemas": [BULK_REQUEST], "Operations": operations})
        return {str(op.get("bulkId") or op.get("location")): op for op in body.get("Operations") or []}

    def discover(self) -> ScimFeatures:
        """Read `/ServiceProviderConfig` (RFC 7643 §5) and probe `meta.lastModified` filtering on /Users."""
        config = self.call("GET", "/ServiceProviderConfig", "discovery.service_provider_config")

        def section(name: str) -> Mapping[str, Any]:
            value = config.get(name)
            return value if isinstance(value, dict) else {}

        bulk, filtering = section("bulk"), section("filter")
        sort = bool(section("sort").get("supported"))
        features = ScimFeatures(
            patch=bool(section("patch").get("supported")),
            bulk_max_operations=int(bulk.get("maxOperations") or 0) if bulk.get("supported") else 0,
            bulk_max_payload_bytes=bulk.get("maxPayloadSize") if bulk.get("supported") else None,
            filter=bool(filtering.get("supported")),
            filter_max_results=filtering.get("maxResults"),
            sort=sort,
            etag=bool(section("etag").get("supported")),
        )
        if not (features.filter and sort):
            return features
        return features.model_copy(update={"last_modified_filter": self._filters_on_last_modified()})

    def _filters_on_last_modified(self) -> bool:
        params: dict[str, str | int] = {
            "filter": 'meta.lastModified gt "1970-01-01T00:00:00Z"',
            "sortBy": "meta.lastModified",
            "count": 1,
        }
        try:
            self.call("GET", "/Users", "discovery.probe_last_modified", params=params)
        except DataRejected:
            return False
        return True
