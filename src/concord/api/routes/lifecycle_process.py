"""Process API for the lifecycle processes after onboarding (`/api/v1/process/...`) and "why is this customer
blocked?" (`/api/v1/customers/{id}/explain`).

Contract of every process route: 422 problem+json naming the field, 404 for an unknown customer, 409 for an
illegal lifecycle transition, and the same business key twice → the same run (202 while it runs, 200 once it
finished, as onboarding's route in process.py). Without a workflow engine in the server the routes answer 503.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from concord.api.deps import AppContext, authorize, context, require_tenant
from concord.api.problems import Problem
from concord.api.routes.process import workflow_engine
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


Engine = Annotated[WorkflowEngine, Depends(workflow_engine)]


async def _start(engine: WorkflowEngine, principal: Principal, name: str, body: BaseModel,
                 response: Response) -> RunView:
    require_tenant(principal, str(getattr(body, "tenant", "default")))
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
async def convert_lead(body: ConvertLeadRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    """Qualify a lead (a prospect account) into an account: prospect → qualified. Key: the lead."""
    return await _start(engine, principal, CONVERT_LEAD, body, response)


@router.post(f"/process/{ACTIVATE_CONTRACT}", response_model=RunView, status_code=202)
async def activate_contract(body: ActivateContractRequest, engine: Engine, principal: Runner,
                            response: Response) -> RunView:
    """A contract goes live on its confirmed ERP order; order and status flow to CRM and support. Key: the order."""
    return await _start(engine, principal, ACTIVATE_CONTRACT, body, response)


@router.post(f"/process/{RENEW}", response_model=RunView, status_code=202)
async def renew(body: AmendRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, RENEW, body, response)


@router.post(f"/process/{AMEND}", response_model=RunView, status_code=202)
async def amend(body: AmendRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, AMEND, body, response)


@router.post(f"/process/{APPLY_HOLD}", response_model=RunView, status_code=202)
async def apply_hold(body: CreditHoldRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, APPLY_HOLD, body, response)


@router.post(f"/process/{RELEASE_HOLD}", response_model=RunView, status_code=202)
async def release_hold(body: CreditHoldRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, RELEASE_HOLD, body, response)


@router.post(f"/process/{SYNC_BILLING}", response_model=RunView, status_code=202)
async def sync_billing(body: BillingSyncRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, SYNC_BILLING, body, response)


@router.post(f"/process/{SUSPEND}", response_model=RunView, status_code=202)
async def suspend(body: GovernedRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, SUSPEND, body, response)


@router.post(f"/process/{CLOSE}", response_model=RunView, status_code=202)
async def close(body: GovernedRequest, engine: Engine, principal: Runner, response: Response) -> RunView:
    return await _start(engine, principal, CLOSE, body, response)


def _explain(ctx: AppContext, engine: WorkflowEngine, customer_id: str, tenant: str) -> Explanation | None:
    statuses = [run for prefix in run_prefixes(tenant, customer_id) for run in engine.runs(prefix)]
    with ctx.engine.connect() as conn:
        return gather(conn, tenant, customer_id, runs_of(statuses))


@router.get("/customers/{customer_id}/explain", response_model=Explanation)
async def explain_customer(customer_id: str, ctx: Ctx, engine: Engine, principal: Reader,
                           tenant: str = "default") -> Explanation:
    require_tenant(principal, tenant)
    found = await asyncio.to_thread(_explain, ctx, engine, customer_id, tenant)
    if found is None:
        raise Problem(404, "Unknown customer", f"no account {customer_id!r}", field="customer_id")
    return found
