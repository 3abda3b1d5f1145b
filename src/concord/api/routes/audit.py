"""GET /api/v1/audit: the audit trail, filtered by actor, customer, system or action; and a chain check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from concord.api.deps import AppContext, authorize, context, require_tenant, tenant_filter
from concord.api.guards import INT64_MAX
from concord.security import audit
from concord.security.audit_query import AuditFilter, entries
from concord.security.scopes import ALL_TENANTS, Principal, Scope

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[Principal, Depends(authorize(Scope.AUDIT_READ))]
Admin = Annotated[Principal, Depends(authorize(Scope.ADMIN))]


class AuditEntryPublic(BaseModel):
    source: str  # audit | change_log
    seq: int
    tenant: str
    at: float
    actor: str
    action: str
    object_type: str
    object_id: str
    customer: str | None
    system: str | None
    correlation_id: str | None
    before: Any
    after: Any
    hash: str | None = None


class VerdictPublic(BaseModel):
    ok: bool
    checked: int
    problems: list[str]


@router.get("", response_model=list[AuditEntryPublic])
def list_audit(ctx: Ctx, principal: Reader, actor: Annotated[str | None, Query(max_length=128)] = None,
               customer: Annotated[str | None, Query(max_length=64)] = None,
               system: Annotated[str | None, Query(max_length=32)] = None,
               action: Annotated[str | None, Query(max_length=64)] = None,
               tenant: Annotated[str | None, Query(max_length=64)] = None,
               before_seq: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEntryPublic]:
    f = AuditFilter(tenant=tenant_filter(principal, tenant), actor=actor, customer=customer, system=system,
                    action=action, before_seq=before_seq, limit=limit)
    with ctx.engine.connect() as conn:
        return [AuditEntryPublic.model_validate(e) for e in entries(conn, f)]


@router.get("/verify", response_model=VerdictPublic)
def verify_chain(ctx: Ctx, principal: Admin) -> VerdictPublic:
    """The chain spans every tenant, so only an all-tenant admin key may check it."""
    require_tenant(principal, ALL_TENANTS)
    with ctx.engine.connect() as conn:
        verdict = audit.verify(conn)
    return VerdictPublic(ok=verdict.ok, checked=verdict.checked, problems=verdict.problems)
