"""An app on SQLite with two tenants' data and keys of every kind, shared by a module's tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from concord.api.app import create_app
from concord.hubconfig import load_runtime
from concord.security.keys import create_key, revoke_key, rotate_key
from concord.security.scopes import ALL_TENANTS, ROLES, Scope
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade
from tests.security.support import bearer

TENANT_A, TENANT_B = "default", "acme-eu"
MARKERS = ("Leaky Acme", "ext-secret-a", "Zebra Holdings")  # tenant A data that must never reach another tenant


@dataclass
class World:
    app: FastAPI
    client: TestClient
    engine: Engine
    admin_a: str
    admin_b: str
    hub_admin: str
    ids: dict[str, str] = field(default_factory=dict)

    def key(self, tenant: str, scopes: frozenset[Scope], name: str = "k", ttl_s: float | None = None,
            now: float | None = None) -> str:
        with self.engine.begin() as conn:
            return create_key(conn, tenant=tenant, name=name, scopes=scopes, actor="test", ttl_s=ttl_s,
                              now=now).token

    def expired(self, scopes: frozenset[Scope]) -> str:
        return self.key(TENANT_A, scopes, ttl_s=60, now=time.time() - 3600)

    def revoked(self, scopes: frozenset[Scope]) -> str:
        token = self.key(TENANT_A, scopes)
        with self.engine.begin() as conn:
            revoke_key(conn, token.split("_")[1], "test")
        return token

    def rotated_out(self, scopes: frozenset[Scope]) -> str:
        token = self.key(TENANT_A, scopes)
        with self.engine.begin() as conn:
            rotate_key(conn, token.split("_")[1], "test", overlap_s=0)
        return token


def _seed(world: World) -> None:
    c = world.client
    headers = bearer(world.admin_a)
    change = {"system": "salesforce", "entity": "account", "external_id": "ext-secret-a",
              "fields": {"Name": "Leaky Acme"}, "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "a1"}
    first = c.post("/api/v1/changes", json=change, headers=headers).json()
    pending = c.post("/api/v1/changes", headers=headers, json={
        "system": "zendesk", "entity": "account", "external_id": "z-secret", "fields": {"name": "Zebra Holdings"},
        "source_ts": "2026-03-01T12:05:00Z", "idempotency_key": "a2", "canonical_id": first["canonical_id"]}).json()
    [approval] = c.get("/api/v1/approvals", headers=headers).json()
    # two look-alikes the online duplicate check holds for a steward: a review of tenant A
    look_alike = {"Name": "Leaky Acme Logistics GmbH", "Phone": "+49 30 1234567", "ShippingStreet": "12 Market St",
                  "ShippingCity": "Berlin", "ShippingPostalCode": "10115", "ShippingCountry": "DE"}
    for ext, key in (("001L1", "a3"), ("001L2", "a4")):
        c.post("/api/v1/changes", headers=headers, json={**change, "external_id": ext, "fields": look_alike,
                                                        "idempotency_key": key})
    spec = load_runtime(None).mappings.get("salesforce", "account")
    assert spec is not None
    proposal = c.post("/api/v1/mappings/proposals", headers=bearer(world.hub_admin),
                      json={"spec": spec.spec.model_dump(mode="json")}).json()
    assert "id" in proposal, proposal
    world.ids.update(record_id=first["canonical_id"], customer_id=first["canonical_id"],
                     change_id=pending["change_id"], approval_id=approval["id"], proposal_id=proposal["id"],
                     key_id=world.admin_a.split("_")[1], system="salesforce", entity="account")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """For tests whose SQL is dialect-neutral (webhook nonces, secrets): PostgreSQL adds minutes, not coverage."""
    engine = make_engine(f"sqlite:///{tmp_path / 'concord.db'}", sqlite_synchronous="NORMAL")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db: Path = tmp_path_factory.mktemp("security") / "concord.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", sqlite_synchronous="NORMAL"), load_runtime(None))
    with TestClient(app) as client:
        engine = app.state.concord.engine
        with engine.begin() as conn:
            tokens = [create_key(conn, tenant=t, name=n, scopes=ROLES["admin"], actor="test").token
                      for t, n in ((TENANT_A, "admin-a"), (TENANT_B, "admin-b"), (ALL_TENANTS, "hub-admin"))]
        world = World(app, client, engine, *tokens)
        _seed(world)
        yield world
