"""Process API for the lifecycle processes after onboarding (`/api/v1/process/...`) and "why is this customer
blocked?" (`/api/v1/customers/{id}/explain`).

Contract of every process route: 422 problem+json naming the field, 404 for an unknown customer, 409 for an
illegal lifecycle transition, and the same business key twice → the same run (202 while it runs, 200 once it
finished, as onboarding's route in process.py). Without a workflow engine in the server the routes answer 503.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.api.routes.process import running_engine
from concord.canonical.lifecycle import IllegalTransition
from concord.security.scopes import Principal, Scope
from concord.workflows.engine import WorkflowEngine
from concord.workflows.explain import Explanation, gather, run_prefixes, runs_of
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    AMEND,
    APPLY_HOLD,
    CLOSE,
    CONVERT_LEAD,
    RELEASE_HOLD,
    RENEW,
    SUSPEND,
    SYNC_BILLING,
    ActivateContractRequest,
    AmendRequest,
    BillingSyncRequest,
    ConvertLeadRequest,
    CreditHoldRequest,
    GovernedRequest,
)
from concord.workflows.lifecycle_processes import NotAllowedInState, lifecycle_specs
from concord.workflows.processes import RunView, UnknownCustomer, start_process

router = APIRouter(prefix="/api/v1", tags=["lifecycle processes"])
Ctx = Annotated[AppContext, Depends(context)]
Runner = Annotated[Principal, Depends(authorize(Scope.PROCESS_RUN))]
Reader = Annotated[Principal, Depends(authorize(Scope.RECORDS_READ))]


async def _start(request: Request, principal: Principal, name: str, body: BaseModel,
                 response: Response) -> RunView:
    require_tenant(principal, str(getattr(body, "tenant", "default")))
    engine = running_engine(request)  # after the caller's checks: 401/403/422 come before a 503
    try:
        view = await asyncio.to_thread(start_process, engine, lifecycle_specs()[name], body)
    except UnknownCustomer as exc:
        raise Problem(404, "Unknown customer", str(exc), field="customer_id") from exc
    except (IllegalTransition, NotAllowedInState) as exc:
        current = None if exc.current is None else exc.current.value
        raise Problem(409, "Illegal lifecycle transition", str(exc), field="lifecycle_state", current=current) from exc
    # As onboarding's route: 202 while the run goes on, 200 when a run with this key had already finished.
    finished = view.status in ("completed", "cancelled", "failed")
    response.status_code = 200 if finished and not view.created else 202
    response.headers["Location"] = f"/api/v1/process/runs/{view.workflow_id}"
    return view


@router.post(f"/process/{CONVERT_LEAD}", response_model=RunView, status_code=202)
async def convert_lead(principal: Runner, body: ConvertLeadRequest, request: Request, response: Response) -> RunView:
    """Qualify a lead (a prospect account) into an account: prospect → qualified. Key: the lead."""
    return await _start(request, principal, CONVERT_LEAD, body, response)


@router.post(f"/process/{ACTIVATE_CONTRACT}", response_model=RunView, status_code=202)
async def activate_contract(principal: Runner, body: ActivateContractRequest, request: Request,
                            response: Response) -> RunView:
    """A contract goes live on its confirmed ERP order; order and status flow to CRM and support. Key: the order."""
    return await _start(request, principal, ACTIVATE_CONTRACT, body, response)


@router.post(f"/process/{RENEW}", response_model=RunView, status_code=202)
async def renew(principal: Runner, body: AmendRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, RENEW, body, response)


@router.post(f"/process/{AMEND}", response_model=RunView, status_code=202)
async def amend(principal: Runner, body: AmendRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, AMEND, body, response)


@router.post(f"/process/{APPLY_HOLD}", response_model=RunView, status_code=202)
async def apply_hold(principal: Runner, body: CreditHoldRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, APPLY_HOLD, body, response)


@router.post(f"/process/{RELEASE_HOLD}", response_model=RunView, status_code=202)
async def release_hold(principal: Runner, body: CreditHoldRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, RELEASE_HOLD, body, response)


@router.post(f"/process/{SYNC_BILLING}", response_model=RunView, status_code=202)
async def sync_billing(principal: Runner, body: BillingSyncRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, SYNC_BILLING, body, response)


@router.post(f"/process/{SUSPEND}", response_model=RunView, status_code=202)
async def suspend(principal: Runner, body: GovernedRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, SUSPEND, body, response)


@router.post(f"/process/{CLOSE}", response_model=RunView, status_code=202)
async def close(principal: Runner, body: GovernedRequest, request: Request, response: Response) -> RunView:
    return await _start(request, principal, CLOSE, body, response)


def _explain(ctx: AppContext, engine: WorkflowEngine, customer_id: str, tenant: str) -> Explanation | None:
    statuses = [run for prefix in run_prefixes(tenant, customer_id) for run in engine.runs(prefix)]
    with ctx.engine.connect() as conn:
        return gather(conn, tenant, customer_id, runs_of(statuses))


@router.get("/customers/{customer_id}/explain", response_model=Explanation)
async def explain_customer(principal: Reader, customer_id: str, ctx: Ctx, request: Request,
                           tenant: str = "default") -> Explanation:
    require_tenant(principal, tenant)
    engine = running_engine(request)
    found = await asyncio.to_thread(_explain, ctx, engine, customer_id, tenant)
    if found is None:
        raise Problem(404, "Unknown customer", f"no account {customer_id!r}", field="customer_id")
    return found
