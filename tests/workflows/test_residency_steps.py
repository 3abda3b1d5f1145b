"""Residency in the workflow runtime without any external system: `WorkflowServices.connector(system, tenant)`
picks the tenant's region, and a refusal (no endpoint there) becomes a `residency` exception task — from
`until_accepted` and from `until_resident` alike — with nothing called, then the retried step completes once
the endpoint exists (decision 072)."""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from concord.delivery.residency import Residency
from concord.events.registry import SchemaRegistry
from concord.hubconfig import Runtime
from concord.policy.store import PolicyStore, policy_path
from concord.storage.engine import make_engine, upgrade
from concord.tasks import store
from concord.tasks.models import TaskAction, TaskKind, TaskPublic, TaskStatus
from concord.workflows.duplicates import ExactKeyDuplicateCheck
from concord.workflows.engine import WorkflowEngine, WorkflowSettings, services
from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.runs import RunContext, until_accepted, until_resident
from concord.workflows.services import MissingConnector, RegionRefused, WorkflowServices
from concord.workflows.steps import Rejection, durable_step
from tests.delivery.memory_connector import MemorySystem


class Push(BaseModel):
    tenant: str
    key: str

    def corrected(self, corrections: dict[str, Any]) -> Push:
        return self


class Pushed(BaseModel):
    endpoint: str = ""
    rejection: Rejection | None = None


@durable_step("test-push", attempts=1)
def push(data: Push) -> Pushed:
    crm = services().connector("crm", data.tenant)
    assert isinstance(crm, MemorySystem)
    crm.create("accounts", {"name": data.key}, idempotency_key=data.key)
    return Pushed(endpoint=crm.name)


@workflow("test-residency-accepted")
def push_accepted(data: Push) -> Pushed:
    run = RunContext(process="test", workflow_id=current_workflow_id() or "", tenant=data.tenant, customer_id=data.key,
                     correlation_id="corr")
    return until_accepted(run, "push", push, data, ["key"])[0]


@workflow("test-residency-resident")
def push_resident(data: Push) -> Pushed:
    run = RunContext(process="test", workflow_id=current_workflow_id() or "", tenant=data.tenant, customer_id=data.key,
                     correlation_id="corr")
    return until_resident(run, "push", push, data)


def _endpoints() -> dict[str, MemorySystem]:
    return {region: MemorySystem(region, ("accounts",)) for region in ("us", "eu", "ap")}


@pytest.fixture
def engine(tmp_path: Path, runtime: Runtime) -> Iterator[WorkflowEngine]:
    url = f"sqlite:///{tmp_path / 'concord.db'}"
    db = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    crm = _endpoints()
    svc = WorkflowServices(engine=db, runtime=runtime, connectors={"crm": crm["us"]},
                           policy=PolicyStore(policy_path(None)), duplicates=ExactKeyDuplicateCheck(db),
                           events=SchemaRegistry.default(),
                           residency=Residency({"eu-co": "eu", "ap-co": "ap"}, {"crm": {"us": crm["us"],
                                                                                        "eu": crm["eu"]}}))
    with WorkflowEngine(WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL", task_poll_s=0.5),
                        svc) as running:
        yield running
    db.dispose()


def _open_task(engine: WorkflowEngine, workflow_id: str) -> TaskPublic:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.services.engine.connect() as conn:
            found = store.list_tasks(conn, workflow_id=workflow_id, status=TaskStatus.OPEN)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no task opened for {workflow_id}")


def _sent(engine: WorkflowEngine) -> dict[str, int]:
    return {region: len(c.log) for region, c in engine.services.residency.regional["crm"].items()}


def test_each_tenant_gets_its_regions_endpoint_or_the_default(engine: WorkflowEngine) -> None:
    svc = engine.services
    eu = svc.residency.regional["crm"]["eu"]
    assert svc.connector("crm", "eu-co") is eu
    assert svc.connector("crm", "default") is svc.connectors["crm"]
    with pytest.raises(RegionRefused, match="'ap'") as refused:
        svc.connector("crm", "ap-co")
    assert refused.value.system == "crm"
    with pytest.raises(MissingConnector):
        svc.connector("erp", "default")
    assert sorted(svc.endpoints()) == ["crm", "crm@eu"]  # the default is the us endpoint: listed once


def test_the_refusal_survives_being_recorded_in_the_journal() -> None:
    again = pickle.loads(pickle.dumps(RegionRefused("tryton", "no endpoint in region 'eu'")))
    assert isinstance(again, RegionRefused) and again.system == "tryton" and str(again) == "no endpoint in region 'eu'"


@pytest.mark.parametrize("workflow", [push_accepted, push_resident])
def test_no_endpoint_in_the_region_is_a_residency_task_and_retry_after_the_fix_completes(
        engine: WorkflowEngine, workflow: Any) -> None:
    key = uuid.uuid4().hex
    handle = engine.start(workflow, f"test:{key}", Push(tenant="ap-co", key=key))
    task = _open_task(engine, f"test:{key}")
    assert (task.kind, task.system, task.step, task.correctable) == (TaskKind.RESIDENCY, "crm", "push", [])
    assert "'ap'" in task.message and "not sent anywhere else" in task.message
    assert _sent(engine) == {"us": 0, "eu": 0}  # no other region's endpoint was used

    fixed = MemorySystem("ap", ("accounts",))  # what a restart with the corrected connections file holds
    engine.services.residency = Residency(engine.services.residency.tenant_regions,
                                          {"crm": {**engine.services.residency.regional["crm"], "ap": fixed}})
    store.decide(engine.services.engine, task.id, TaskAction.RETRY, "ops")
    engine.wake(task.workflow_id, task.id)
    assert handle.get_result(timeout_s=60).endpoint == "ap"
    assert [op for op, _ in fixed.log] == ["create"] and _sent(engine) == {"us": 0, "eu": 0, "ap": 1}
