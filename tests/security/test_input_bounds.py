"""Every integer the API takes (path, query, body) is bounded to 64 bits, and NUL never reaches a handler:
both used to end in a database error (a 500) instead of a 422 naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.api.guards import INT64_MAX, nul_field
from concord.hubconfig import load_runtime
from concord.settings import Settings
from tests.security.conftest import World
from tests.security.support import bearer

APP = create_app(Settings(database_url="sqlite:///:memory:"), load_runtime(None))


def _unbounded_params() -> list[str]:
    found = []
    for ctx in iter_route_contexts(APP.routes):  # console routes too: they are not in the OpenAPI schema
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.path_params + route.dependant.query_params:
            if param.field_info.annotation not in (int, int | None):
                continue
            bounds = [getattr(m, "le", None) or getattr(m, "lt", None) for m in param.field_info.metadata]
            if not any(b is not None and b <= INT64_MAX + 1 for b in bounds):
                found.append(f"{ctx.path} {param.name}")
    return found


def _resolve(node: Any, components: dict[str, Any], seen: set[str]) -> list[dict[str, Any]]:
    """Every schema node reachable from `node`, following $refs once."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            out += _resolve(components[ref.rsplit("/", 1)[1]], components, seen)
        out.append(node)
        for value in node.values():
            out += _resolve(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            out += _resolve(value, components, seen)
    return out


def test_every_integer_parameter_of_every_route_has_a_64_bit_bound() -> None:
    assert _unbounded_params() == []


def test_every_integer_in_a_request_body_has_a_64_bit_bound() -> None:
    schema = APP.openapi()
    components = schema.get("components", {}).get("schemas", {})
    unbounded = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for node in _resolve(operation.get("requestBody", {}), components, set()):
                # the schema carries bounds as floats: 2**63 - 1 reads as float(2**63 - 1)
                if node.get("type") == "integer" and float(node.get("maximum", 2.0**64)) > float(INT64_MAX):
                    unbounded.append(f"{method.upper()} {path}: {node.get('title', node)}")
    assert unbounded == []


def test_nul_field_names_the_parameter() -> None:
    assert nul_field("/api/v1/audit", b"actor=a%00b&limit=3") == "actor"
    assert nul_field("/api/v1/records/a\x00b", b"") == "path"
    assert nul_field("/api/v1/audit", b"actor=ab&x=%2500") is None  # an encoded percent sign is no NUL


def test_audit_refuses_nul_and_huge_sequence_numbers(world: World) -> None:
    client: TestClient = world.client
    headers = bearer(world.hub_admin)
    for params, field in (({"actor": "a\x00"}, "actor"), ({"before_seq": str(2**63)}, "before_seq"),
                          ({"before_seq": "9" * 40}, "before_seq")):
        response = client.get("/api/v1/audit", params=params, headers=headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
    assert client.get("/api/v1/audit", params={"before_seq": str(INT64_MAX)}, headers=headers).status_code == 200
    for url in (f"/console/dead-letters/{2**64}", "/console/dead-letters/1%00"):
        response = client.get(url, headers=headers)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
