"""Keys for tests: create one straight in the database and get the headers that present it."""

from __future__ import annotations

from sqlalchemy import Engine

from concord.security.keys import create_key
from concord.security.scopes import ROLES, Scope


def key_for(engine: Engine, tenant: str = "default", scopes: frozenset[Scope] | None = None, name: str = "tester",
            ttl_s: float | None = None) -> str:
    with engine.begin() as conn:
        return create_key(conn, tenant=tenant, name=name, scopes=scopes or ROLES["admin"], actor="test",
                          ttl_s=ttl_s).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
