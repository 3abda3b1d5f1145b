"""The process and task APIs over a live engine: problem+json refusals, one run per business key, tasks decided
over HTTP, and processes started from routed events (workflow_signals rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from concord.api.app import create_app
from concord.api.routes import process, tasks
from concord.events.envelope import EventEnvelope
from concord.events.routing import WorkflowSignalTarget
from concord.events.subscribers import WorkflowSignalSubscriber
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.workflows.engine import WorkflowEngine
from concord.workflows.processes import process_specs
from concord.workflows.signals import SignalStarter
from tests.security.support import bearer, key_for
from tests.workflows.support import Systems, crm_customer, settle

pytestmark = pytest.mark.tryton


@pytest.fixture
def client(engine: WorkflowEngine, database_url: str, runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, sqlite_synchronous="NORMAL"), runtime, engine)
    with TestClient(app) as test_client:
        test_client.headers.update(bearer(key_for(app.state.concord.engine)))
        yield test_client


def problem(response: Any, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


def test_every_process_and_task_route_declares_its_scope() -> None:
    routes = [r for router in (process.router, tasks.router) for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 7
    for route in routes:
        scopes = [getattr(d.call, "__concord_scope__", None) for d in route.dependant.dependencies]
        assert any(scopes), route.path


def test_bad_input_unknown_customer_and_illegal_transition(client: TestClient, systems: Systems, runtime: Runtime,
                                                           database_url: str, engine: WorkflowEngine) -> None:
    url = "/api/v1/process/onboard-customer"
    problem(client.post(url, json={"customer_id": "x", "admin_email": "not-an-email"}), 422, "admin_email")
    problem(client.post(url, json={"customer_id": "x", "seats": 0}), 422, "seats")
    problem(client.post(url, json={"customer_id": "nobody"}), 404, "customer_id")
    customer, _ = crm_customer(systems, runtime, database_url, "Already Closed Ltd")
    service = IngestService(engine.services.engine, runtime)
    service.start()
    service.ingest([ChangeCreate(system="concord", entity="account", external_id=customer, canonical_id=customer,
                                 fields={"lifecycle_state": "closed"}, source_ts=datetime.now(UTC),
                                 idempotency_key="close-it")])
    service.stop()
    body = problem(client.post(url, json={"customer_id": customer}), 409, "lifecycle_state")
    assert body["current"] == "closed"
    assert client.get("/api/v1/process/runs/onboard:default:nobody").status_code == 404


def test_same_key_twice_is_one_run_and_tasks_are_decided_over_http(
        client: TestClient, systems: Systems, runtime: Runtime, database_url: str, engine: WorkflowEngine) -> None:
    customer, _ = crm_customer(systems, runtime, database_url, "Api Path SA", ShippingCountry="FR")
    url = "/api/v1/process/onboard-customer"
    first = client.post(url, json={"customer_id": customer, "admin_email": "ops@api-path.example"})
    assert first.status_code == 202, first.text
    run_id = first.json()["workflow_id"]
    assert first.headers["location"] == f"/api/v1/process/runs/{run_id}"
    # FR needs a VAT number (policy eu-vat): the run waits on a missing-data task
    waiting = settle(engine, run_id, until=("waiting",))
    listed = client.get("/api/v1/tasks", params={"customer_id": customer}).json()
    assert [t["id"] for t in listed] == [t.id for t in waiting.open_tasks]
    task = listed[0]
    assert (task["step"], task["kind"], task["fields"]) == ("enrich", "missing_data", ["tax_id"])
    problem(client.post(f"/api/v1/tasks/{task['id']}/resolve",
                        json={"actor": "ops", "corrections": {"credit_limit": 1}}), 422, "corrections.credit_limit")
    resolved = client.post(f"/api/v1/tasks/{task['id']}/resolve",
                           json={"actor": "ops", "corrections": {"tax_id": "FR40303265045"}})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert client.post(f"/api/v1/tasks/{task['id']}/cancel", json={"actor": "x"}).status_code == 409
    assert settle(engine, run_id).status == "completed"
    again = client.post(url, json={"customer_id": customer, "admin_email": "someone@else.example"})
    assert again.status_code == 200 and again.json()["workflow_id"] == run_id
    assert again.json()["result"]["customer_number"] == customer
    run = client.get(f"/api/v1/process/runs/{run_id}").json()
    assert (run["status"], run["process"]) == ("completed", "onboard-customer")
    names = [s["name"] for s in run["steps"]]  # the journal: the task opened, waited on, read, then the rest
    assert names[0] == "load-customer" and names.index("open-task") < names.index("erp-create")
    assert "recv" in names and "read-task" in names and "publish-onboarded" in names
    assert [s["seq"] for s in run["steps"]] == list(range(1, len(names) + 1)) and not any(s["failed"] for s in
                                                                                          run["steps"])
    assert run["started_at"] <= run["updated_at"] and run["resumed"] == 0 and run["parent"] is None
    child = client.get(f"/api/v1/process/runs/{run_id}/billing").json()
    assert child["parent"] == run_id and [s["name"] for s in child["steps"]] == ["provision-stripe"]


def test_a_routed_event_starts_onboarding_once(systems: Systems, runtime: Runtime, database_url: str,
                                               engine: WorkflowEngine) -> None:
    customer, _ = crm_customer(systems, runtime, database_url, "Signalled GmbH", ShippingCountry="US",
                               ShippingCity="Austin", ShippingPostalCode="73301")
    subscriber = WorkflowSignalSubscriber(WorkflowSignalTarget(kind="workflow_signal", workflow="onboard-customer",
                                                               signal="start"))
    for n in range(2):  # the same customer signalled twice (two events)
        event = EventEnvelope(event_id=f"evt-{customer}-{n}", type="CustomerUpdated", schema_version=2,
                              tenant="default", customer_key=customer, correlation_id="corr-signal",
                              causation_id="cause", occurred_at=datetime.now(UTC),
                              data={"entity": "account", "canonical_id": customer, "source_system": "concord",
                                    "changes": {"lifecycle_state": {"before": None, "after": "onboarding"}},
                                    "changed_fields": ["lifecycle_state"]})
        with engine.services.engine.begin() as tx:
            subscriber.handle(event, tx)
    starter = SignalStarter(engine, process_specs())
    assert starter.poll() == 2 and starter.poll() == 0
    done = settle(engine, f"onboard:default:{customer}")
    assert done.status == "completed", done
    assert done.result is not None and done.result["customer_number"] == customer
    assert set(done.result["systems"]) == {"tryton", "salesforce", "scim", "zendesk", "stripe"}
