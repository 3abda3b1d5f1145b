"""Crash safety of a won deal's onboarding (decision 076): the worker is SIGKILLed between onboarding and the
order — right after the last provisioning effect, or right after ERP placed the order but before the step was
recorded — and a new worker finishes the run. Exactly one ERP party and one sale order, the Opportunity told once."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from concord.connectors.tryton import TrytonConnector
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine
from tests.workflows.support import Systems, crm_customer
from tests.workflows.test_crash import _worker

pytestmark = [pytest.mark.tryton, pytest.mark.slow]


def _captured(url: str, runtime: Runtime, change: ChangeCreate) -> str:
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    service = IngestService(engine, runtime)
    service.start()
    try:
        outcome = service.ingest([change])[0]
    finally:
        service.stop()
        engine.dispose()
    assert isinstance(outcome, ChangePublic), outcome
    return outcome.canonical_id


def _won_lead(systems: Systems, runtime: Runtime, url: str, name: str) -> tuple[str, str, str]:
    """A prospect with an Opportunity created Closed Won, both captured: (customer, Opportunity id, contract)."""
    customer, sf_id = crm_customer(systems, runtime, url, name, Lifecycle_Stage__c="Prospect")
    _captured(url, runtime, ChangeCreate(system="concord", entity="account", external_id=customer,
                                         canonical_id=customer, fields={"lifecycle_state": "prospect"},
                                         source_ts=datetime.now(UTC), idempotency_key=f"lead-{customer}"))
    values = {"AccountId": sf_id, "Name": f"{name} deal", "StageName": "Closed Won", "CloseDate": "2026-12-31",
              "Amount": 900}
    opportunity = systems.salesforce.state.store.inject("Opportunity", values)
    contract = _captured(url, runtime, ChangeCreate(system="salesforce", entity="contract", external_id=opportunity,
                                                    fields=values, source_ts=datetime.now(UTC),
                                                    idempotency_key=f"capture-{opportunity}"))
    return customer, opportunity, contract


@pytest.mark.parametrize("point", ["provision-stripe", "place-order"])
def test_a_crash_between_onboarding_and_the_order_still_ends_with_one_order(
        point: str, systems: Systems, runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    connections = str(systems.write_connections(tmp_path / "connections.yaml"))
    price = systems.price()
    customer, opportunity, contract = _won_lead(systems, runtime, database_url, f"Crash Winner {point} SA")
    dying = _worker([database_url, connections, price, "-", customer, contract], f"{point}@{customer}")
    assert dying.returncode == -signal.SIGKILL, dying.stderr[-3000:]
    finishing = _worker([database_url, connections, price, customer, "-"], None)
    assert finishing.returncode == 0, finishing.stderr[-3000:]
    view = json.loads(finishing.stdout.strip().splitlines()[0])
    assert view["status"] == "completed", view
    won = view["result"]["contract"]
    assert won["status"] == "completed" and won["workflow_id"] == f"activate-contract:default:{customer}:{contract}"
    erp = systems.build().build()["tryton"]
    assert isinstance(erp, TrytonConnector)
    try:
        parties = erp.search("party", {"code": customer})
        assert len(parties) == 1
        sales = erp.list_sales(int(parties[0].id))
    finally:
        erp.close()
    assert [(s.id, s.number) for s in sales] == [(won["order_id"], won["order_number"])]
    deal = next(o for o in systems.salesforce.state.store.snapshot("Opportunity") if o["Id"] == opportunity)
    assert deal["Order_Number__c"] == won["order_number"]
    assert systems.counters["salesforce"].count("PATCH", f"/sobjects/Opportunity/{opportunity}") == 1
