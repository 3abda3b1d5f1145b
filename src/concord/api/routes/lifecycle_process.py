"""Process API for the lifecycle processes after onboarding (`/api/v1/process/...`) and "why is this customer
blocked?" (`/api/v1/customers/{id}/explain`).

Contract of every process route: 422 problem+json naming the field, 404 for an unknown customer, 409 for an
illegal lifecycle transition, and the same business key twice → the same run (201 when created, 200 after).
The workflow engine is the one the app launched (`app.state.workflows`); without it the routes answer 503.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from dbos import DBOS
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.canonical.lifecycle import IllegalTransition
from concord.security.scopes import Principal, Scope
from concord.workflows.engine import WorkflowEngine
from concord.workflows.explain import Explanation, gather, run_prefixes, runs_of
from concord.workflows.lifecycle_model import (
    AMEND,
    APPLY_HOLD,
    CLOSE,
    RELEASE_HOLD,
    RENEW,
    SUSPEND,
    SYNC_BILLING,
    AmendRequest,
    BillingSyncRequest,
    CreditHoldRequest,
    GovernedRequest,
)
from concord.workflows.lifecycle_processes import NotAllowedInState, lifecycle_specs
from concord.workflows.processes import RunView, UnknownCustomer, start_process

router = APIRouter(prefix="/api/v1", tags=["lifecycle processes"])
Ctx = Annotated[AppContext, Depends(context)]
Runner = Annotated[Principal, Depends(authorize(Scope.PROCESS_RUN))]
Reader = Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))]


def workflows(request: Request) -> WorkflowEngine:
    engine: WorkflowEngine | None = getattr(request.app.state, "workflows", None)
    if engine is None:
        raise Problem(503, "Workflows unavailable", "this API process runs no workflow engine")
    return engine


Engine = Annotated[WorkflowEngine, Depends(workflows)]


async def _start(engine: WorkflowEngine, principal: Principal, name: str, body: BaseModel,
                 response: Response) -> RunView:
    require_tenant(principal, str(getattr(body, "tenant", "default")))
    try:
        view = await asyncio.to_thread(start_process, engine, lifecycle_specs()[name], body)
    except UnknownCustomer as exc:
        raise Problem(404, "Unknown customer", str(exc), field="customer_id") from exc
    except (IllegalTransition, NotAllowedInState) as exc:
        raise Problem(409, "Illegal lifecycle transition", str(exc), field="customer_id") from exc
    response.status_code = 201 if view.created else 200
    return view


@router.post(f"/process/{RENEW}", response_model=RunView, status_code=201)
async def renew(body: AmendRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, RENEW, body, response)


@router.post(f"/process/{AMEND}", response_model=RunView, status_code=201)
async def amend(body: AmendRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, AMEND, body, response)


@router.post(f"/process/{APPLY_HOLD}", response_model=RunView, status_code=201)
async def apply_hold(body: CreditHoldRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, APPLY_HOLD, body, response)


@router.post(f"/process/{RELEASE_HOLD}", response_model=RunView, status_code=201)
async def release_hold(body: CreditHoldRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, RELEASE_HOLD, body, response)


@router.post(f"/process/{SYNC_BILLING}", response_model=RunView, status_code=201)
async def sync_billing(body: BillingSyncRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, SYNC_BILLING, body, response)


@router.post(f"/process/{SUSPEND}", response_model=RunView, status_code=201)
async def suspend(body: GovernedRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, SUSPEND, body, response)


@router.post(f"/process/{CLOSE}", response_model=RunView, status_code=201)
async def close(body: GovernedRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, CLOSE, body, response)


def _explain(ctx: AppContext, customer_id: str, tenant: str) -> Explanation | None:
    statuses: list[Any] = DBOS.list_workflows(workflow_id_prefix=run_prefixes(tenant, customer_id),
                                              load_input=False, load_output=False)
    with ctx.engine.connect() as conn:
        return gather(conn, customer_id, runs_of(statuses))


@router.get("/customers/{customer_id}/explain", response_model=Explanation)
async def explain_customer(customer_id: str, ctx: Ctx, engine: Engine, principal: Reader,
                           tenant: str = "default") -> Explanation:
    require_tenant(principal, tenant)
    found = await asyncio.to_thread(_explain, ctx, customer_id, tenant)
    if found is None:
        raise Problem(404, "Unknown customer", f"no account {customer_id!r}", field="customer_id")
    return found
