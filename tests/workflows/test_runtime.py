"""The runtime without any external system: business-key idempotency, RetryLater, refusals and exhausted retries
turned into tasks that resume the run — on SQLite and (marked postgres) on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from concord.events.registry import SchemaRegistry
from concord.hubconfig import Runtime
from concord.policy.store import PolicyStore, policy_path
from concord.storage.engine import make_engine, upgrade
from concord.tasks import store
from concord.tasks.models import TaskAction, TaskKind, TaskPublic, TaskStatus
from concord.workflows.duplicates import ExactKeyDuplicateCheck
from concord.workflows.engine import EngineNotRunning, WorkflowEngine, WorkflowSettings, services, system_url_for
from concord.workflows.journal import current_workflow_id, workflow
from concord.workflows.runs import RunContext, until_accepted
from concord.workflows.services import WorkflowServices
from concord.workflows.steps import Rejection, RetryLater, durable_step
from tests.services import fresh_postgres_database

CALLS: dict[str, int] = {}


class Item(BaseModel):
    key: str
    value: int
    fail_times: int = 0

    def corrected(self, corrections: dict[str, Any]) -> Item:
        return self.model_validate({**self.model_dump(), **corrections})


class Doubled(BaseModel):
    value: int | None = None
    rejection: Rejection | None = None


@durable_step("test-double", attempts=2, interval_s=0.01)
def double(item: Item) -> Doubled:
    CALLS[item.key] = CALLS.get(item.key, 0) + 1
    if CALLS[item.key] <= item.fail_times:
        raise RetryLater("the system is busy")
    if item.value < 0:
        return Doubled(rejection=Rejection(system="calc", message="negative values are refused", fields=["value"]))
    return Doubled(value=item.value * 2)


@workflow("test-runtime")
def doubling(item: Item) -> Doubled:
    run = RunContext(process="test", workflow_id=current_workflow_id() or "", tenant="default", customer_id=item.key,
                     correlation_id="corr")
    result, _ = until_accepted(run, "double", double, item, ["value"])
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'concord.db'}"
    else:
        with fresh_postgres_database() as pg:
            yield pg


@pytest.fixture
def engine(url: str, runtime: Runtime) -> Iterator[WorkflowEngine]:
    db = make_engine(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    svc = WorkflowServices(engine=db, runtime=runtime, connectors={}, policy=PolicyStore(policy_path(None)),
                           duplicates=ExactKeyDuplicateCheck(db), events=SchemaRegistry.default())
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


def _decide(engine: WorkflowEngine, task: TaskPublic, action: TaskAction, **corrections: Any) -> None:
    store.decide(engine.services.engine, task.id, action, "tester", corrections)
    engine.wake(task.workflow_id, task.id)


def test_the_business_key_is_the_run_and_a_transient_failure_is_retried(engine: WorkflowEngine) -> None:
    key = uuid.uuid4().hex
    first = engine.start(doubling, f"test:{key}", Item(key=key, value=2, fail_times=1))
    second = engine.start(doubling, f"test:{key}", Item(key=key, value=50))
    assert first.get_result(timeout_s=60).value == 4
    assert second.get_result(timeout_s=60).value == 4  # the first run's answer, not a new run
    assert CALLS[key] == 2  # one RetryLater, one success; the second start ran nothing


def test_exhausted_retries_become_a_task_and_retry_resumes(engine: WorkflowEngine) -> None:
    key = uuid.uuid4().hex
    handle = engine.start(doubling, f"test:{key}", Item(key=key, value=3, fail_times=2))
    task = _open_task(engine, f"test:{key}")
    assert (task.kind, task.step, task.attempt) == (TaskKind.FAILED, "double", 1)
    assert "busy" in task.message
    _decide(engine, task, TaskAction.RETRY)
    assert handle.get_result(timeout_s=60).value == 6


def test_a_refusal_waits_for_a_correction_and_a_bad_correction_asks_again(engine: WorkflowEngine) -> None:
    key = uuid.uuid4().hex
    handle = engine.start(doubling, f"test:{key}", Item(key=key, value=-1))
    refused = _open_task(engine, f"test:{key}")
    assert (refused.kind, refused.fields, refused.system) == (TaskKind.REJECTED, ["value"], "calc")
    _decide(engine, refused, TaskAction.RESOLVE, value="not a number")
    again = _open_task(engine, f"test:{key}")
    assert again.attempt == 2 and "correction was refused" in again.message and again.fields == ["value"]
    _decide(engine, again, TaskAction.RESOLVE, value=21)
    assert handle.get_result(timeout_s=60).value == 42


def test_steps_refuse_to_run_without_a_launched_engine_and_system_urls_sit_beside_concords() -> None:
    with pytest.raises(EngineNotRunning):
        services()
    assert system_url_for("sqlite:////var/lib/concord/concord.db") == \
        "sqlite:////var/lib/concord/concord-workflows.sqlite"
    assert system_url_for("postgresql://u:p@db/concord") == "postgresql+psycopg://u:p@db/concord"


def test_runs_are_listed_by_business_key_prefix(engine: WorkflowEngine) -> None:
    key = uuid.uuid4().hex
    engine.start(doubling, f"test:{key}:a", Item(key=f"{key}a", value=1)).get_result(timeout_s=60)
    engine.start(doubling, f"test:{key}:b", Item(key=f"{key}b", value=2)).get_result(timeout_s=60)
    runs = engine.runs(f"test:{key}:")
    assert sorted(r.workflow_id for r in runs) == [f"test:{key}:a", f"test:{key}:b"]
    assert {r.status for r in runs} == {"SUCCESS"}
