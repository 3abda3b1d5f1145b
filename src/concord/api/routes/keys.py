"""API keys over HTTP (admin scope): create (the key is in this one answer only), list, rotate, revoke."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.problems import Problem
from concord.security import keys
from concord.security.scopes import ROLES, Principal, Scope, parse_scopes

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
Ctx = Annotated[AppContext, Depends(context)]
Admin = Annotated[Principal, Depends(authorize(Scope.ADMIN))]
DAY = 86_400.0


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128, description="who uses the key; recorded as the actor")
    tenant: str | None = Field(default=None, pattern=r"^([a-z0-9][a-z0-9_-]{0,63}|\*)$")
    role: str | None = Field(default=None, description=f"one of {', '.join(ROLES)}")
    scopes: list[str] = Field(default_factory=list, max_length=32)
    ttl_days: float | None = Field(default=None, gt=0, le=3650)

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str | None) -> str | None:
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        return role

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        parse_scopes(scopes)
        return scopes


class KeyRotate(BaseModel):
    overlap_hours: float = Field(default=24, ge=0, le=24 * 30)


class KeyPublic(BaseModel):
    id: str
    tenant: str
    name: str
    role: str | None
    scopes: list[str]
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    replaced_by: str | None
    status: str


class KeyIssued(BaseModel):
    id: str
    key: str = Field(description="shown once: store it now, Concord keeps only its hash")
    tenant: str
    scopes: list[str]
    expires_at: float | None


def _issued(issued: keys.IssuedKey) -> KeyIssued:
    return KeyIssued(id=issued.id, key=issued.token, tenant=issued.tenant, scopes=sorted(issued.scopes),
                     expires_at=issued.expires_at)


def _own_key(conn: Any, key_id: str, principal: Principal) -> keys.KeyRecord:
    record = keys.get_key(conn, key_id)
    if record is None:
        raise Problem(404, "Not found", f"no key {key_id}")
    require_tenant(principal, record.tenant)
    return record


@router.post("", status_code=201, response_model=KeyIssued)
def create(body: KeyCreate, ctx: Ctx, principal: Admin) -> KeyIssued:
    tenant = body.tenant or principal.tenant
    require_tenant(principal, tenant)
    scopes = parse_scopes(body.scopes) | (ROLES[body.role] if body.role else frozenset())
    if not scopes:
        raise Problem(422, "Invalid request", "give a role or at least one scope", field="scopes")
    with ctx.engine.begin() as conn:
        issued = keys.create_key(conn, tenant=tenant, name=body.name, scopes=scopes, actor=principal.actor,
                                 role=body.role, ttl_s=None if body.ttl_days is None else body.ttl_days * DAY)
    return _issued(issued)


@router.get("", response_model=list[KeyPublic])
def list_all(ctx: Ctx, principal: Admin, tenant: str | None = None) -> list[KeyPublic]:
    with ctx.engine.connect() as conn:
        records = keys.list_keys(conn, tenant_filter(principal, tenant))
    now = time.time()
    return [KeyPublic.model_validate(r.public(now)) for r in records]


@router.post("/{key_id}/rotate", status_code=201, response_model=KeyIssued)
def rotate(key_id: str, body: KeyRotate, ctx: Ctx, principal: Admin) -> KeyIssued:
    with ctx.engine.begin() as conn:
        _own_key(conn, key_id, principal)
        try:
            return _issued(keys.rotate_key(conn, key_id, principal.actor, body.overlap_hours * 3600))
        except keys.KeyError_ as exc:
            raise Problem(409, "Not active", f"key {key_id} is expired or revoked; create a new one") from exc


@router.post("/{key_id}/revoke", response_model=KeyPublic)
def revoke(key_id: str, ctx: Ctx, principal: Admin) -> KeyPublic:
    with ctx.engine.begin() as conn:
        _own_key(conn, key_id, principal)
        return KeyPublic.model_validate(keys.revoke_key(conn, key_id, principal.actor).public(time.time()))
