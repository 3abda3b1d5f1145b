"""API keys: `concord_<id>_<secret>`. Only SHA-256 of the secret is stored; the whole key is shown once.

The secret carries 256 bits of entropy, so a fast hash is enough (no password stretching needed) and lookup
stays one primary-key read per request. Rotation issues a new key with the same scopes and lets the old one
live for an overlap window, so callers can switch without downtime; revocation is immediate.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from concord.security import audit
from concord.security.scopes import ALL_TENANTS, Principal, Scope
from concord.security.tables import api_keys

KEY_PATTERN = re.compile(r"^concord_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
TENANT_PATTERN = re.compile(r"^([a-z0-9][a-z0-9_-]{0,63}|\*)$")


class KeyError_(LookupError):
    """No such key (or not in the caller's tenant)."""


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: `token` is shown to the caller once and never again."""

    id: str
    token: str
    tenant: str
    name: str
    scopes: frozenset[Scope]
    expires_at: float | None


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant: str
    name: str
    role: str | None
    scopes: frozenset[Scope]
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    replaced_by: str | None

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "name": self.name, "role": self.role,
                "scopes": sorted(self.scopes), "created_at": self.created_at, "created_by": self.created_by,
                "expires_at": self.expires_at, "revoked_at": self.revoked_at, "replaced_by": self.replaced_by,
                "status": self.status(now)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _record(row: Any) -> KeyRecord:
    return KeyRecord(id=row.id, tenant=row.tenant, name=row.name, role=row.role,
                     scopes=frozenset(Scope(s) for s in row.scopes.split()), created_at=row.created_at,
                     created_by=row.created_by, expires_at=row.expires_at, revoked_at=row.revoked_at,
                     replaced_by=row.replaced_by)


def create_key(conn: Connection, *, tenant: str, name: str, scopes: frozenset[Scope], actor: str,
               role: str | None = None, ttl_s: float | None = None, now: float | None = None) -> IssuedKey:
    """Store a new key's hash and return the key itself (the only time it exists in clear)."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a tenant name")
    if not scopes:
        raise ValueError("a key needs at least one scope")
    now = time.time() if now is None else now
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires = None if ttl_s is None else now + ttl_s
    conn.execute(api_keys.insert().values(
        id=key_id, tenant=tenant, name=name, role=role, scopes=" ".join(sorted(scopes)), secret_hash=_digest(secret),
        created_at=now, created_by=actor, expires_at=expires, revoked_at=None, replaced_by=None))
    audit.append(conn, audit.Entry(tenant=tenant, actor=actor, action="key.created", object_type="api_key",
                                   object_id=key_id, after={"name": name, "scopes": sorted(scopes), "role": role,
                                                            "expires_at": expires}), now=now)
    return IssuedKey(key_id, f"concord_{key_id}_{secret}", tenant, name, scopes, expires)


def get_key(conn: Connection, key_id: str) -> KeyRecord | None:
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return None if row is None else _record(row)


def list_keys(conn: Connection, tenant: str | None = None) -> list[KeyRecord]:
    query = select(api_keys).order_by(api_keys.c.created_at)
    if tenant is not None and tenant != ALL_TENANTS:
        query = query.where(api_keys.c.tenant == tenant)
    return [_record(r) for r in conn.execute(query)]


def authenticate(conn: Connection, token: str, now: float | None = None) -> Principal | None:
    """The principal of a valid, unexpired, unrevoked key; None for anything else (never says which)."""
    match = KEY_PATTERN.match(token)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    # Compare against a digest even when the id is unknown, so timing does not tell ids apart.
    expected = row.secret_hash if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        return None
    record = _record(row)
    if record.status(time.time() if now is None else now) != "active":
        return None
    return Principal(key_id=record.id, tenant=record.tenant, scopes=record.scopes, actor=record.name)


def revoke_key(conn: Connection, key_id: str, actor: str, now: float | None = None) -> KeyRecord:
    now = time.time() if now is None else now
    record = get_key(conn, key_id)
    if record is None:
        raise KeyError_(key_id)
    if record.revoked_at is None:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
        audit.append(conn, audit.Entry(tenant=record.tenant, actor=actor, action="key.revoked", object_type="api_key",
                                       object_id=key_id, before={"status": record.status(now)},
                                       after={"status": "revoked"}), now=now)
    return get_key(conn, key_id)  # type: ignore[return-value]


def rotate_key(conn: Connection, key_id: str, actor: str, overlap_s: float,
               now: float | None = None) -> IssuedKey:
    """A new key with the same tenant, name and scopes; the old one keeps working for `overlap_s` seconds."""
    now = time.time() if now is None else now
    old = get_key(conn, key_id)
    if old is None or old.status(now) != "active":
        raise KeyError_(key_id)
    ttl = None if old.expires_at is None else max(old.expires_at - now, overlap_s)
    new = create_key(conn, tenant=old.tenant, name=old.name, scopes=old.scopes, actor=actor, role=old.role,
                     ttl_s=ttl, now=now)
    old_until = now + overlap_s if old.expires_at is None else min(old.expires_at, now + overlap_s)
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(expires_at=old_until, replaced_by=new.id))
    audit.append(conn, audit.Entry(tenant=old.tenant, actor=actor, action="key.rotated", object_type="api_key",
                                   object_id=key_id, before={"expires_at": old.expires_at},
                                   after={"expires_at": old_until, "replaced_by": new.id}), now=now)
    return new
