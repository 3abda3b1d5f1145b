"""Exception tasks in the database: opened once per (run, step, attempt), decided once, corrections checked."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from concord.tasks import store
from concord.tasks.models import TaskAction, TaskCreate, TaskKind, TaskStatus


def _task(attempt: int = 1) -> TaskCreate:
    return TaskCreate(tenant="default", customer_id="c-1", workflow_id="onboard:default:c-1",
                      process="onboard-customer", step="erp-create", attempt=attempt, kind=TaskKind.REJECTED,
                      system="tryton", message="The VAT number is not valid", fields=["tax_id"],
                      correctable=["tax_id", "name"], context={"tax_id": "BE0"}, correlation_id="corr-1")


def test_opening_twice_is_one_task_and_a_new_attempt_is_another(engine: Engine) -> None:
    first = store.open_task(engine, _task())
    assert store.open_task(engine, _task()) == first
    second = store.open_task(engine, _task(attempt=2))
    with engine.connect() as conn:
        listed = store.list_tasks(conn, customer_id="c-1")
        shown = store.get_task(conn, first)
    assert [t.id for t in listed] == [first, second]
    assert shown is not None and shown.context == {"tax_id": "BE0"} and shown.status == TaskStatus.OPEN
    assert store.decision_of(shown) is None


def test_a_task_is_decided_once_and_only_its_correctable_fields_change(engine: Engine) -> None:
    task_id = store.open_task(engine, _task())
    with pytest.raises(store.NotCorrectable) as refused:
        store.decide(engine, task_id, TaskAction.RESOLVE, "ann", {"credit_limit": 5})
    assert refused.value.field == "credit_limit"
    decided = store.decide(engine, task_id, TaskAction.RESOLVE, "ann", {"tax_id": "BE0897290877"})
    assert decided.status == TaskStatus.RESOLVED and decided.decided_by == "ann"
    decision = store.decision_of(decided)
    assert decision is not None and decision.corrections == {"tax_id": "BE0897290877"}
    with pytest.raises(store.TaskClosed):
        store.decide(engine, task_id, TaskAction.CANCEL, "bob")
    with pytest.raises(store.TaskNotFound):
        store.decide(engine, "task-missing", TaskAction.RETRY, "bob")
    with engine.connect() as conn:
        assert store.list_tasks(conn, status=TaskStatus.OPEN) == []


def test_a_run_lists_its_own_and_its_children_tasks_only(engine: Engine) -> None:
    own = store.open_task(engine, _task())
    child = store.open_task(engine, _task().model_copy(update={"workflow_id": "onboard:default:c-1/scim"}))
    store.open_task(engine, _task().model_copy(update={"workflow_id": "onboard:default:c-10"}))
    with engine.connect() as conn:
        assert [t.id for t in store.list_tasks(conn, run="onboard:default:c-1")] == [own, child]
        assert store.list_tasks(conn, run="onboard:default:c_1") == []  # LIKE wildcards are escaped
