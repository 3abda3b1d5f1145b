"""Every route of the real app refuses callers who do not belong: no key, a wrong-scope, expired, revoked or
rotated-out key (401/403), and another tenant's key (refused, or answered without any of the tenant's data).

The routes are walked from `app.routes`, so routes added later are covered without touching this file.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from concord.api.app import create_app
from concord.hubconfig import load_runtime
from concord.security.scopes import Scope
from concord.settings import Settings
from tests.security.conftest import MARKERS, TENANT_A, TENANT_B, World
from tests.security.support import bearer

# Public on purpose: liveness/readiness probes carry no data; the schema and docs describe, never answer.
PUBLIC = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "field", "scope", "errors", "reason"}


WEBHOOK = "webhook"  # an inbound webhook route: authenticated by its HMAC signature, not by an API key


def declared_scope(route: APIRoute) -> Scope | str | None:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if getattr(dependant.call, "__concord_webhook__", False):
            return WEBHOOK
        scope = getattr(dependant.call, "__concord_scope__", None)
        if scope is not None:
            return Scope(scope)
        stack.extend(dependant.dependencies)
    return None


def protected_routes() -> list[tuple[str, str, Scope | str | None]]:
    app = create_app(Settings(database_url="sqlite:///:memory:"), load_runtime(None))
    found = []
    # FastAPI ≥ 0.16x keeps included routers lazily; iter_route_contexts yields each route with its full path.
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute) and ctx.path not in PUBLIC:
            found.extend((method, ctx.path, declared_scope(route)) for method in sorted(route.methods))
    return found


ROUTES = protected_routes()
IDS = [f"{method} {path}" for method, path, _ in ROUTES]


CHANGE = {"tenant": TENANT_A, "system": "salesforce", "entity": "account", "external_id": "evil",
          "fields": {"Name": "Evil"}, "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "evil"}
# Valid bodies, so that another tenant's call reaches the handler's tenant check rather than validation.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/changes"): CHANGE,
    ("POST", "/api/v1/changes/batch"): {"changes": [CHANGE]},
    ("POST", "/api/v1/customers/{customer_id}/lifecycle"): {"to": "qualified", "reason": "x"},
    ("POST", "/api/v1/approvals/{approval_id}/approve"): {"actor": "mallory"},
    ("POST", "/api/v1/approvals/{approval_id}/reject"): {"actor": "mallory"},
    ("POST", "/api/v1/keys"): {"name": "m", "tenant": TENANT_A, "role": "viewer"},
    ("POST", "/api/v1/keys/{key_id}/rotate"): {},
    ("POST", "/api/v1/mappings/proposals/{proposal_id}/reject"): {},
}
GENERIC = {"tenant": TENANT_A, "actor": "mallory", "name": "m", "reason": "x"}


def call(world: World, method: str, path: str, token: str | None) -> Any:
    url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: world.ids.get(m.group(1), "x"), path)
    headers = bearer(token) if token else {}
    body = None if method in ("GET", "DELETE") else SAMPLES.get((method, path), GENERIC)
    return world.client.request(method, url, params={"tenant": TENANT_A}, json=body, headers=headers)


def leaks(text: str) -> bool:
    """Whether tenant A's data shows, also normalised (match evidence carries lower-cased names)."""
    return any(marker.lower() in text.lower() for marker in MARKERS)


def assert_refused(response: Any, statuses: tuple[int, ...]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) <= PROBLEM_KEYS, problem
    assert not leaks(response.text)


def test_the_walk_finds_every_route_of_the_app() -> None:
    paths = {path for _, path, _ in ROUTES}
    assert {"/api/v1/changes", "/api/v1/customers/{customer_id}", "/api/v1/keys", "/api/v1/audit",
            "/api/v1/mappings/proposals/{proposal_id}/approve"} <= paths


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_route_names_a_scope(method: str, path: str, scope: Scope | str | None) -> None:
    assert scope is not None, (f"{method} {path} declares no scope: add Depends(authorize(Scope.X)), or "
                               "Depends(WebhookGuard(...)) for an inbound webhook")


def refuses_unsigned_deliveries(world: World, method: str, path: str) -> None:
    url = re.sub(r"\{(\w+)(?::\w+)?\}", "x", path)
    body = b'{"id": "evt_1"}'
    forged = {"Concord-Signature": f"t={int(time.time())},v1={'0' * 64}", "Content-Type": "application/json"}
    assert_refused(world.client.request(method, url, content=body), (400, 401))
    assert_refused(world.client.request(method, url, content=body, headers=forged), (400, 401))
    assert_refused(world.client.request(method, url, content=b"x" * (8 * 1024 * 1024), headers=forged), (400, 401, 413))


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_route_refuses_bad_keys(world: World, method: str, path: str, scope: Scope | str | None) -> None:
    if scope == WEBHOOK:
        refuses_unsigned_deliveries(world, method, path)
        return
    needed = Scope(scope) if scope else Scope.ADMIN
    others = frozenset(Scope) - {needed, Scope.ADMIN}
    assert_refused(call(world, method, path, None), (401,))
    assert_refused(call(world, method, path, "concord_0123456789abcdef_" + "x" * 43), (401,))
    assert_refused(call(world, method, path, world.key(TENANT_A, others)), (403,))
    assert_refused(call(world, method, path, world.expired(frozenset({needed}))), (401,))
    assert_refused(call(world, method, path, world.revoked(frozenset({needed}))), (401,))
    assert_refused(call(world, method, path, world.rotated_out(frozenset({needed}))), (401,))


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=IDS)
def test_route_keeps_other_tenants_out(world: World, method: str, path: str, scope: Scope | str | None) -> None:
    if scope == WEBHOOK:
        return  # no key is involved: the signature decides (see test_route_refuses_bad_keys)
    response = call(world, method, path, world.admin_b)
    assert response.status_code < 500, response.text
    assert not leaks(response.text), response.text
    if response.status_code >= 400:
        assert_refused(response, (403, 404, 409, 422))
    # What names tenant A's objects (or tenant A in a `tenant` parameter) is refused outright; a list without
    # such a parameter may answer the caller's own tenant (checked above: nothing of A in it). A route without a
    # sample body may stop at validation first: 422, which leaks nothing either.
    names_a = "{" in path or (method, path) in SAMPLES or accepts_tenant(world, path)
    if names_a and (method in ("GET", "DELETE") or (method, path) in SAMPLES):
        assert response.status_code in (403, 404), (response.status_code, response.text)


def accepts_tenant(world: World, path: str) -> bool:
    operation = world.app.openapi()["paths"].get(path, {}).get("get", {})
    return any(p["name"] == "tenant" for p in operation.get("parameters", []))


def test_tenant_a_objects_are_refused_with_403_to_tenant_b(world: World) -> None:
    b = bearer(world.admin_b)
    ids = world.ids
    for method, url in (("GET", f"/api/v1/customers/{ids['customer_id']}"),
                        ("GET", f"/api/v1/records/{ids['record_id']}"), ("GET", f"/api/v1/changes/{ids['change_id']}"),
                        ("GET", "/api/v1/approvals?tenant=default"), ("GET", "/api/v1/audit?tenant=default"),
                        ("POST", f"/api/v1/keys/{ids['key_id']}/revoke")):
        assert_refused(world.client.request(method, url, headers=b), (403,))
    assert_refused(world.client.post(f"/api/v1/approvals/{ids['approval_id']}/approve", json={"actor": "m"},
                                     headers=b), (403,))
    assert_refused(world.client.post("/api/v1/changes", json=CHANGE, headers=b), (403,))
    assert_refused(world.client.post("/api/v1/changes/batch", json={"changes": [CHANGE]}, headers=b), (403,))
    hijack = {**CHANGE, "tenant": TENANT_B, "canonical_id": ids["customer_id"], "system": "hubspot"}
    assert_refused(world.client.post("/api/v1/changes", json=hijack, headers=b), (403,))
    assert_refused(world.client.post("/api/v1/changes/batch", json={"changes": [hijack]}, headers=b), (403,))
    # Lists answer with the caller's own tenant only.
    assert world.client.get("/api/v1/approvals", headers=b).json() == []
    a_reviews = world.client.get("/api/v1/review", headers=bearer(world.admin_a))
    assert a_reviews.status_code == 200 and leaks(a_reviews.text)  # the seed's held look-alikes
    assert world.client.get("/api/v1/review", headers=b).json() == []
    assert all(e["tenant"] == TENANT_B for e in world.client.get("/api/v1/audit", headers=b).json())
    own = world.client.get(f"/api/v1/customers/{ids['customer_id']}", headers=bearer(world.admin_a))
    assert own.status_code == 200 and own.json()["tenant"] == TENANT_A
