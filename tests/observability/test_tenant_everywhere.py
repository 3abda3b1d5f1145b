"""Issue #8: every metric and every log line carries the tenant — `*` for hub-wide figures, `-` when unknown."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import Engine

from concord.connectors.runtime.http import CallSample
from concord.connectors.stripe import StripeConnector
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.prepare import PreparedChange
from concord.ingest.service import IngestService, _tenant_of
from concord.observability.logs import json_formatter
from concord.workflows.runs import RunContext
from concord.workflows.steps import durable_step
from tests.connectors.stripe.support import config_for, running_twin
from tests.console.conftest import (
    OpsRun,
    ops_run,  # noqa: F401  (the scripted run)
)

HUB_WIDE_FAMILIES = {"concord_replays", "concord_replayed_events", "concord_dead_letters", "concord_event_lag"}


def test_every_metric_sample_has_a_tenant_label_after_a_scripted_run(ops_run: OpsRun) -> None:  # noqa: F811
    ops = ops_run.client.app.state.ops  # type: ignore[attr-defined]
    ops.metrics.record(CallSample("stripe", "GET /v1/customers", "GET", 200, "ok", 0.01, "c1"))  # no tenant bound
    assert ops_run.client.get("/console/dashboard").status_code == 200  # an API request observed with its key
    families = list(ops.metrics.registry.collect())
    seen = {f.name for f in families if f.samples}
    assert {"concord_changes", "concord_connector_call_seconds", "concord_api_request_seconds",
            "concord_dead_letters", "concord_event_lag", "concord_rejected_fields"} <= seen
    untenanted = [(f.name, s.labels) for f in families for s in f.samples if not s.labels.get("tenant")]
    assert untenanted == []
    for family in families:
        if family.name in HUB_WIDE_FAMILIES and family.samples:  # no replay has run in this script
            assert {s.labels["tenant"] for s in family.samples} == {"*"}, family.name
    calls = next(f for f in families if f.name == "concord_connector_call_seconds")
    assert {s.labels["tenant"] for s in calls.samples} == {"-"}  # recorded outside any tenant's work
    api = next(f for f in families if f.name == "concord_api_request_seconds")
    assert "*" in {s.labels["tenant"] for s in api.samples}  # the all-tenant operator key of the run


@contextmanager
def captured_lines(name: str = "concord", level: int = logging.DEBUG) -> Iterator[list[dict[str, object]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger(name)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    lines: list[dict[str, object]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        lines.extend(orjson.loads(line) for line in stream.getvalue().splitlines())


@durable_step("tenant-probe-step")
def _probe_step(run: RunContext) -> str:
    logging.getLogger("concord.workflows.test").info("step body ran")
    return run.tenant


def test_workflow_step_lines_carry_the_run_tenant_and_other_lines_a_dash() -> None:
    run = RunContext(process="p", workflow_id="wf-1", tenant="acme", customer_id="cus-1", correlation_id="corr-1")
    with captured_lines() as lines:
        assert _probe_step(run) == "acme"
        logging.getLogger("concord.workflows.test").info("outside any run")
    inside, outside = lines
    assert (inside["tenant"], inside["customer"], inside["correlation_id"], inside["step"]) == (
        "acme", "cus-1", "corr-1", "tenant-probe-step")
    assert outside["tenant"] == "-"


def test_delivery_lines_carry_the_command_tenant(engine: Engine, ingest: IngestService) -> None:
    outcome = ingest.ingest([ChangeCreate(
        tenant="sandbox", system="concord", entity="billing_account", external_id="ba-tn", canonical_id="ba-tn",
        fields={"name": "Tenant Ltd", "currency": "EUR"}, source_ts=datetime.now(UTC), idempotency_key="ba-tn")])[0]
    assert isinstance(outcome, ChangePublic) and outcome.outbound_commands == 1
    with running_twin() as twin, captured_lines() as lines:
        connector = StripeConnector(config_for(twin.url, tenant="sandbox"))
        report = CommandDispatcher(DeliveryStore(engine), {"stripe": connector}).drain()
        connector.close()
    assert report.delivered == 1, report.errors
    calls = [line for line in lines if str(line.get("logger", "")).startswith("concord.connectors")]
    assert calls and {line["tenant"] for line in calls} == {"sandbox"}


def test_an_ingest_batch_is_logged_under_its_tenant_or_as_hub_wide() -> None:
    def prepared(tenant: str, n: int) -> PreparedChange:
        change = ChangeCreate(tenant=tenant, system="concord", entity="billing_account", external_id=f"b{n}",
                              canonical_id=f"b{n}", fields={"name": "X"}, source_ts=datetime.now(UTC),
                              idempotency_key=f"b{n}")
        return PreparedChange(change, f"chg-{n}", f"corr-{n}", 0, {}, {}, None)

    assert _tenant_of([prepared("acme", 1), prepared("acme", 2)]) == "acme"
    assert _tenant_of([prepared("acme", 3), prepared("globex", 4)]) == "*"  # a group commit across tenants


def test_a_route_logs_under_the_tenant_of_the_calling_key(tmp_path: Path) -> None:
    from fastapi import Depends
    from fastapi.testclient import TestClient

    from concord.api.app import create_app
    from concord.api.deps import authorize
    from concord.hubconfig import load_runtime
    from concord.security.keys import create_key
    from concord.security.scopes import Principal, Scope
    from concord.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", sqlite_synchronous="NORMAL"),
                     load_runtime(None))

    @app.get("/probe")
    def probe(who: Principal = Depends(authorize(Scope.CHANGES_READ))) -> dict[str, str]:
        logging.getLogger("concord.api.probe").info("inside a route")
        return {"tenant": who.tenant}

    with TestClient(app) as client:
        with app.state.concord.engine.begin() as conn:
            token = create_key(conn, tenant="acme", name="probe", scopes=frozenset({Scope.CHANGES_READ}),
                               actor="test").token
        with captured_lines() as lines:
            answer = client.get("/probe", headers={"Authorization": f"Bearer {token}"})
            logging.getLogger("concord.api.probe").info("after the request")
    assert answer.status_code == 200, answer.text
    inside, after = (line for line in lines if line.get("logger") == "concord.api.probe")
    assert inside["tenant"] == "acme" and after["tenant"] == "-"  # bound for that request only
