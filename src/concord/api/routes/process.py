"""Process APIs (`/api/v1/process/...`): start a lifecycle process for a customer, read a run back.

One route per process. A start answers 202 with the run (its workflow id is the business key), or 200 when a run
with that key had already finished: the same request twice starts nothing twice. 404: unknown customer; 409:
the customer's lifecycle state does not allow the process; 422: bad input, naming the field; 503: no workflow
engine runs in this server.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from concord.api.deps import authorize, require_tenant
from concord.api.problems import Problem
from concord.canonical.lifecycle import IllegalTransition
from concord.security.scopes import Principal, Scope
from concord.workflows.engine import WorkflowEngine
from concord.workflows.onboarding_model import OnboardRequest
from concord.workflows.processes import RunView, UnknownCustomer, process_specs, run_view, start_process

router = APIRouter(prefix="/api/v1/process", tags=["process"])


def workflow_engine(request: Request) -> WorkflowEngine | None:
    engine: WorkflowEngine | None = getattr(request.app.state, "workflows", None)
    return engine


def running_engine(request: Request) -> WorkflowEngine:
    """The server's workflow engine, or 503. Call it after the caller's checks (401/403/422 come first)."""
    return _running(workflow_engine(request))


def _running(engine: WorkflowEngine | None) -> WorkflowEngine:
    # Checked inside the handler, after the caller's key and tenant: a refusal must not depend on the engine.
    if engine is None:
        raise Problem(503, "Workflows not running", "this server runs no workflow engine (serve with "
                                                    "--connections FILE or CONCORD_CONNECTIONS)")
    return engine


Engine = Annotated[WorkflowEngine | None, Depends(workflow_engine)]
Starter = Annotated[Principal, Depends(authorize(Scope.PROCESS_RUN))]
Reader = Annotated[Principal, Depends(authorize(Scope.PROCESS_READ))]


def _own_tenant(principal: Principal, body: BaseModel) -> BaseModel:
    """The request in the caller's tenant: an omitted tenant is the key's own, another tenant is refused."""
    if "tenant" not in body.model_fields_set and principal.tenant != "*":
        body = body.model_copy(update={"tenant": principal.tenant})
    require_tenant(principal, str(getattr(body, "tenant", "")))
    return body


async def _start(engine: WorkflowEngine, process: str, body: BaseModel, response: Response) -> RunView:
    spec = process_specs()[process]
    try:
        view = await asyncio.to_thread(start_process, engine, spec, body)
    except UnknownCustomer as exc:
        raise Problem(404, "Unknown customer", str(exc), field="customer_id") from exc
    except IllegalTransition as exc:
        raise Problem(409, "Illegal lifecycle transition", str(exc), field="lifecycle_state",
                      current=exc.current.value) from exc
    finished = view.status in ("completed", "cancelled", "failed")
    response.status_code = 200 if finished and not view.created else 202
    response.headers["Location"] = f"/api/v1/process/runs/{view.workflow_id}"
    return view


@router.post("/onboard-customer", response_model=RunView, status_code=202,
             responses={200: {"model": RunView, "description": "the run with this business key had finished"},
                        404: {"description": "unknown customer"}, 409: {"description": "illegal transition"}})
async def onboard_customer(principal: Starter, body: OnboardRequest, engine: Engine, response: Response) -> RunView:
    """Onboard a customer: validate, duplicate check, policy enrichment, ERP, CRM write-back, CustomerOnboarded,
    then identity, support and billing provisioning. Key: `onboard:<tenant>:<customer_id>`."""
    return await _start(_running(engine), "onboard-customer", _own_tenant(principal, body), response)


@router.get("/runs/{workflow_id:path}", response_model=RunView)
async def get_run(principal: Reader, workflow_id: str, engine: Engine) -> RunView:
    view = None if engine is None else await asyncio.to_thread(run_view, engine, workflow_id)
    if view is None:
        raise Problem(404, "Not found", f"no run {workflow_id}")
    require_tenant(principal, view.tenant or "")
    return view
