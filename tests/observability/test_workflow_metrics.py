"""Workflow runs in /metrics: runs by tenant, process and status, the oldest unfinished run's age and the live
executors — read from the journal, so a second process sees the same figures."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel

from concord.observability.metrics import build_metrics
from concord.workflows.engine import WorkflowEngine, WorkflowSettings, system_url_for
from concord.workflows.journal import result_of, run_workflow, start_workflow, step, workflow
from concord.workflows.services import WorkflowServices

OPEN = threading.Event()


class Order(BaseModel):
    tenant: str
    fail: bool = False
    wait: bool = False


@step("metrics-work")
def work(order: Order) -> str:
    if order.fail:
        raise ValueError("refused")
    while order.wait and not OPEN.wait(0.02):
        pass
    return "done"


@workflow("test-metrics-flow")
def flow(order: Order) -> str:
    return work(order)


def _samples(url_of: str | None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metrics = build_metrics(lambda: None, lambda _e: 0, lambda: url_of)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in metrics.registry.collect()
            for s in f.samples if s.name.startswith("concord_workflow")}


def test_runs_by_tenant_process_and_status_and_the_oldest_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'concord.db'}"
    assert _samples(system_url_for(url)) == {}  # no journal yet: nothing, and nothing created
    assert not (tmp_path / "concord-workflows.sqlite").exists()
    services = WorkflowServices(engine=None, runtime=None, connectors={}, policy=None,  # type: ignore[arg-type]
                                duplicates=None, events=None)  # type: ignore[arg-type]
    with WorkflowEngine(WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL"), services):
        run_workflow(flow, Order(tenant="acme"), f"m:{uuid.uuid4().hex}")
        run_workflow(flow, Order(tenant="acme"), f"m:{uuid.uuid4().hex}")
        with pytest.raises(ValueError):
            run_workflow(flow, Order(tenant="globex", fail=True), f"m:{uuid.uuid4().hex}")
        waiting = start_workflow(flow, Order(tenant="globex", wait=True), f"m:{uuid.uuid4().hex}")
        time.sleep(0.3)
        seen = _samples(system_url_for(url))  # read as another process would: its own connection
        OPEN.set()
        result_of(waiting.workflow_id, timeout_s=30)
    runs = {(dict(k)["tenant"], dict(k)["status"]): v for (name, k), v in seen.items()
            if name == "concord_workflow_runs" and dict(k)["process"] == "test-metrics-flow"}
    assert runs == {("acme", "SUCCESS"): 2, ("globex", "ERROR"): 1, ("globex", "PENDING"): 1}
    oldest = {dict(k)["tenant"]: v for (name, k), v in seen.items()
              if name == "concord_workflow_oldest_pending_seconds"}
    assert list(oldest) == ["globex"] and 0.2 < oldest["globex"] < 30
    assert seen[("concord_workflow_executors", (("tenant", "*"),))] == 1
