"""Governed closure against the twins and the real Tryton ERP (acceptance: closure needs a second approver)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from concord.hubconfig import Runtime
from concord.security.tables import audit_log
from concord.tasks.models import TaskAction, TaskKind
from concord.tasks.store import decide
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_model import CLOSE, GovernedRequest
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import start_process
from tests.workflows.lifecycle_support import event_types, finished, golden, onboarded, open_task, sf_account
from tests.workflows.support import Systems

pytestmark = pytest.mark.tryton


def test_closure_needs_a_second_approver(engine: WorkflowEngine, systems: Systems, runtime: Runtime,
                                        database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Closing Time SA")
    request = GovernedRequest(customer_id=customer, case_id="CASE-7", requested_by="alice", reason="contract ended")
    view = start_process(engine, lifecycle_specs()[CLOSE], request)
    assert view.created and view.workflow_id == f"{CLOSE}:default:{customer}"
    first = open_task(engine, view.workflow_id, attempt=1)
    assert first.kind == TaskKind.APPROVAL and first.context["requested_by"] == "alice"
    decide(engine.services.engine, first.id, TaskAction.RESOLVE, actor="alice")  # the requester approves herself
    engine.wake(view.workflow_id, first.id)
    second = open_task(engine, view.workflow_id, attempt=2)  # not an approval: asked again
    assert "alice cannot approve" in second.message
    assert golden(engine, customer, "lifecycle_state") == "active"  # nothing happened yet
    subscription = made["stripe"]["subscription"]
    billing = engine.services.connector("stripe", "default")
    assert billing.read("subscription", subscription).fields["status"] != "canceled"

    decide(engine.services.engine, second.id, TaskAction.RESOLVE, actor="bob")
    engine.wake(view.workflow_id, second.id)
    done = finished(engine, CLOSE, view.workflow_id)
    assert done.status == "completed" and done.result is not None and done.result["approved_by"] == "bob", done
    assert golden(engine, customer, "lifecycle_state") == "closed"
    assert billing.read("subscription", subscription).fields["status"] == "canceled"
    user = engine.services.connector("scim", "default").read("Users", made["scim"]["user"])
    assert user is not None and user.fields.get("active") is False
    party = engine.services.connector("tryton", "default").search("party", {"code": customer})
    assert len(party) == 1 and party[0].fields["active"] is False
    assert sf_account(systems, sf_id)["Lifecycle_Stage__c"] == "Closed"
    assert {"AccountSuspended", "AccountClosed"} <= set(event_types(engine, customer))
    with engine.services.engine.connect() as conn:
        actions = [(r.actor, r.action) for r in conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.object_id == view.workflow_id)
            .order_by(audit_log.c.seq))]
    assert actions == [("alice", "customer.closure.requested"), ("bob", "customer.closure.approved"),
                       ("bob", "customer.closure.completed")]
    again = start_process(engine, lifecycle_specs()[CLOSE], request)
    assert not again.created and again.status == "completed"
