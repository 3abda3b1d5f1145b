"""HTTP contract of the lifecycle process API: 422 naming the field, 404 unknown customer, 409 illegal
transition, one run per business key; and "why is this customer blocked?". No downstream system runs here: the
customer is known from ERP only, and applying a credit hold only moves Concord's lifecycle and credit status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.api.app import create_app
from concord.hubconfig import Runtime
from concord.security.tables import audit_log
from concord.settings import Settings
from concord.storage import queries
from concord.tasks.models import TaskAction
from concord.tasks.store import decide
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.services import standard_services
from tests.api.test_changes_api import assert_problem
from tests.security.support import bearer, key_for
from tests.workflows.lifecycle_support import open_task, wait_for
from tests.workflows.support import concord_database


@pytest.fixture
def client(tmp_path: Path, runtime: Runtime) -> Iterator[TestClient]:
    url = concord_database(tmp_path / "concord.db")
    app = create_app(Settings(database_url=url, sqlite_synchronous="NORMAL"), runtime)
    with TestClient(app) as test_client:
        db = app.state.concord.engine
        settings = WorkflowSettings(database_url=url, sqlite_synchronous="NORMAL", task_poll_s=1.0)
        with WorkflowEngine(settings, standard_services(db, runtime, {}, None)) as engine:
            app.state.workflows = engine
            test_client.headers.update(bearer(key_for(db)))
            yield test_client


def _customer(client: TestClient, state: str | None) -> str:
    made = client.post("/api/v1/changes", json={
        "system": "tryton", "entity": "account", "external_id": "77", "fields": {"name": "Blocked Ltd"},
        "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "mk"})
    assert made.status_code == 202, made.text
    customer: str = made.json()["canonical_id"]
    if state is not None:
        moved = client.post("/api/v1/changes", json={
            "system": "concord", "entity": "account", "external_id": customer, "canonical_id": customer,
            "fields": {"lifecycle_state": state}, "source_ts": "2026-03-01T12:00:01Z", "idempotency_key": "ls"})
        assert moved.status_code == 202, moved.text
    return customer


def test_bad_input_names_the_field(client: TestClient) -> None:
    customer = _customer(client, "active")
    bad = client.post("/api/v1/process/amend-subscription", json={"customer_id": customer, "change_id": "Q1",
                                                                  "seats": 0})
    assert_problem(bad, 422, "seats")
    missing = client.post("/api/v1/process/suspend-account", json={"customer_id": customer, "case_id": "C1",
                                                                   "reason": "fraud"})
    assert_problem(missing, 422, "requested_by")
    key = client.post("/api/v1/process/apply-credit-hold", json={"customer_id": customer, "reference": "a b"})
    assert_problem(key, 422, "reference")


def test_unknown_customer_is_404_and_illegal_transition_409(client: TestClient) -> None:
    unknown = client.post("/api/v1/process/apply-credit-hold", json={"customer_id": "nope", "reference": "R1"})
    assert_problem(unknown, 404, "customer_id")
    assert_problem(client.get("/api/v1/customers/nope/explain"), 404, "customer_id")
    prospect = _customer(client, "prospect")
    assert_problem(client.post("/api/v1/process/apply-credit-hold",
                               json={"customer_id": prospect, "reference": "R1"}), 409, "lifecycle_state")
    assert_problem(client.post("/api/v1/process/renew",
                               json={"customer_id": prospect, "change_id": "R-2027", "seats": 3}), 409)


def test_same_business_key_is_one_run_and_explain_names_the_hold(client: TestClient) -> None:
    customer = _customer(client, "active")
    body = {"customer_id": customer, "reference": "DUN-9", "requested_by": "finance"}
    first = client.post("/api/v1/process/apply-credit-hold", json=body)
    assert first.status_code == 202, first.text
    run = first.headers["Location"]
    wait_for("the hold to finish", lambda: client.get(run).json()["status"] == "completed")
    second = client.post("/api/v1/process/apply-credit-hold", json={**body, "reason": "ignored: same key"})
    assert second.status_code == 200 and second.json()["workflow_id"] == first.json()["workflow_id"]
    engine = client.app.state.workflows  # type: ignore[attr-defined]
    with engine.services.engine.connect() as conn:
        events = [e["type"] for e in queries.outbox(conn, kind="event", canonical_id=customer, limit=500)]
    assert events.count("CreditHoldApplied") == 1
    why = client.get(f"/api/v1/customers/{customer}/explain")
    assert why.status_code == 200, why.text
    answer = why.json()
    assert answer["blocked"] and answer["category"] == "credit_hold" and answer["lifecycle_state"] == "credit_hold"
    assert answer["links"]["customer"] == f"/api/v1/customers/{customer}"


def test_a_rejected_suspension_changes_nothing_and_is_audited(client: TestClient) -> None:
    customer = _customer(client, "active")
    started = client.post("/api/v1/process/suspend-account", json={
        "customer_id": customer, "case_id": "CASE-3", "requested_by": "alice", "reason": "payment fraud"})
    assert started.status_code == 202, started.text
    engine = client.app.state.workflows  # type: ignore[attr-defined]
    task = open_task(engine, started.json()["workflow_id"], attempt=1)
    why = client.get(f"/api/v1/customers/{customer}/explain").json()
    assert why["category"] == "awaiting_approval" and why["task_id"] == task.id and why["waiting_step"] == "approval"
    decide(engine.services.engine, task.id, TaskAction.CANCEL, actor="bob")
    engine.wake(task.workflow_id, task.id)
    run = started.headers["Location"]
    wait_for("the rejection", lambda: client.get(run).json()["status"] == "completed")
    assert client.get(run).json()["result"]["status"] == "rejected"
    with engine.services.engine.connect() as conn:
        record = queries.golden_record(conn, customer)
        actions = [(r.actor, r.action) for r in conn.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.customer == customer)
            .order_by(audit_log.c.seq))]
    assert record is not None and record.value("lifecycle_state") == "active"
    assert actions == [("alice", "customer.suspension.requested"), ("bob", "customer.suspension.rejected")]


def test_convert_lead_contract_422_404_409_and_one_run_per_lead(client: TestClient) -> None:
    lead = _customer(client, "prospect")
    assert_problem(client.post("/api/v1/process/convert-lead", json={"customer_id": lead}), 422, "qualified_by")
    assert_problem(client.post("/api/v1/process/convert-lead", json={"customer_id": "nope", "qualified_by": "sam"}),
                   404, "customer_id")
    first = client.post("/api/v1/process/convert-lead", json={"customer_id": lead, "qualified_by": "sam"})
    assert first.status_code == 202, first.text
    assert first.json()["workflow_id"] == f"convert-lead:default:{lead}"
    wait_for("the conversion", lambda: client.get(first.headers["Location"]).json()["status"] == "completed")
    again = client.post("/api/v1/process/convert-lead", json={"customer_id": lead, "qualified_by": "someone else"})
    assert again.status_code == 200 and again.json()["workflow_id"] == first.json()["workflow_id"]
    engine = client.app.state.workflows  # type: ignore[attr-defined]
    with engine.services.engine.connect() as conn:
        record = queries.golden_record(conn, lead)
    assert record is not None and record.value("lifecycle_state") == "qualified"
    other = client.post("/api/v1/changes", json={
        "system": "tryton", "entity": "account", "external_id": "78", "fields": {"name": "Active Ltd"},
        "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "mk2"}).json()["canonical_id"]
    client.post("/api/v1/changes", json={
        "system": "concord", "entity": "account", "external_id": other, "canonical_id": other,
        "fields": {"lifecycle_state": "active"}, "source_ts": "2026-03-01T12:00:01Z", "idempotency_key": "ls2"})
    assert_problem(client.post("/api/v1/process/convert-lead", json={"customer_id": other, "qualified_by": "sam"}),
                   409, "lifecycle_state")


def test_activate_contract_contract_422_404_409(client: TestClient) -> None:
    prospect = _customer(client, "prospect")
    assert_problem(client.post("/api/v1/process/activate-contract",
                               json={"customer_id": prospect, "order_id": 0, "activated_by": "ops"}), 422, "order_id")
    assert_problem(client.post("/api/v1/process/activate-contract",
                               json={"customer_id": prospect, "order_id": 7}), 422, "activated_by")
    for keys in ({}, {"order_id": 7, "contract_id": "k1"}):  # one business key: an order or a won deal
        assert_problem(client.post("/api/v1/process/activate-contract",
                                   json={"customer_id": prospect, "activated_by": "ops", **keys}), 422, "contract_id")
    assert_problem(client.post("/api/v1/process/activate-contract",
                               json={"customer_id": "nope", "order_id": 7, "activated_by": "ops"}), 404, "customer_id")
    assert_problem(client.post("/api/v1/process/activate-contract",
                               json={"customer_id": prospect, "order_id": 7, "activated_by": "ops"}),
                   409, "lifecycle_state")


def test_onboarding_a_lead_needs_its_won_deal_and_a_bad_contract_id_is_named(client: TestClient) -> None:
    lead = _customer(client, "prospect")
    assert_problem(client.post("/api/v1/process/onboard-customer", json={"customer_id": lead}),
                   409, "lifecycle_state")  # a lead without a won deal is converted first, not onboarded
    assert_problem(client.post("/api/v1/process/onboard-customer", json={"customer_id": lead, "contract_id": "a b"}),
                   422, "contract_id")
    # No onboarding runs for the lead: activating its deal directly is still refused (decision 076).
    assert_problem(client.post("/api/v1/process/activate-contract",
                               json={"customer_id": lead, "contract_id": "k1", "activated_by": "ops"}),
                   409, "lifecycle_state")
