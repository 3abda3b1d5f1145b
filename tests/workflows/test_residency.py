"""Data residency in workflow steps (issue #8, decision 072): a tenant pinned to a region is onboarded only
through that region's endpoints — two sets of twins (US, EU) and one Tryton declared in the EU — and a pinned
tenant whose region lacks an endpoint gets an exception task, nothing sent anywhere, until the connections are
fixed, the runtime restarted and the task retried. The runtime is hosted as `concord serve`/`workflows worker`
host it, from a connections file in the `systems:` format."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from concord.connectors.tryton import TrytonConnector
from concord.hubconfig import Runtime, TenantConfig
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.sandbox.tryton import TrytonServer
from concord.settings import Settings
from concord.storage.engine import make_engine
from concord.tasks import store
from concord.tasks.models import TaskAction, TaskKind
from concord.workflows.hosting import hosted_workflows
from concord.workflows.onboarding_model import LegalEntity, OnboardRequest
from concord.workflows.processes import process_specs, start_process
from tests.workflows.support import Systems, be_vat, running_systems, settle

pytestmark = pytest.mark.tryton

PINNED = "eu-co"
SYSTEMS = ("salesforce", "stripe", "zendesk", "scim")


@pytest.fixture(scope="module")
def eu(tryton: TrytonServer) -> Iterator[Systems]:
    """A second set of twins (and SCIM server): the EU endpoints; the conftest's `systems` are the US ones."""
    with running_systems(tryton) as running:
        yield running


@pytest.fixture
def pinned_runtime(runtime: Runtime) -> Runtime:
    tenants = {**runtime.hub.tenants, PINNED: TenantConfig(systems=["salesforce", "tryton", "stripe", "zendesk",
                                                                     "scim"], region="eu")}
    return dataclasses.replace(runtime, hub=runtime.hub.model_copy(update={"tenants": tenants}))


def regional_file(path: Path, us: Systems, eu: Systems, tryton_region: str | None) -> Path:
    """US endpoints as the defaults, EU ones as `endpoints:`; the one Tryton in `tryton_region` (None: none)."""
    us_cfg, eu_cfg = us.connections(), eu.connections()
    systems: dict[str, Any] = {name: {"connector": name, "region": "us", "config": us_cfg[name],
                                      "endpoints": [{"region": "eu", "config": eu_cfg[name]}]} for name in SYSTEMS}
    systems["tryton"] = {"connector": "tryton", "config": us_cfg["tryton"],
                         **({"region": tryton_region} if tryton_region else {})}
    path.write_text(yaml.safe_dump({"systems": systems}), encoding="utf-8")
    return path


def captured(systems: Systems, runtime: Runtime, url: str, tenant: str, name: str) -> tuple[str, str]:
    """An Account in `systems`' Salesforce twin, captured into Concord for `tenant`: (Concord id, SF id)."""
    number = zlib.crc32(name.encode()) % 900 + 1
    values = {"Name": name, "ShippingStreet": f"{number} Rue Royale", "ShippingCity": "Brussels",
              "ShippingPostalCode": "1000", "ShippingCountry": "BE", "NumberOfEmployees": 250}
    sf_id = systems.salesforce.state.store.inject("Account", values)
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    service = IngestService(engine, runtime)
    service.start()
    try:
        outcome = service.ingest([ChangeCreate(tenant=tenant, system="salesforce", entity="account",
                                               external_id=sf_id, fields=values, source_ts=datetime.now(UTC),
                                               idempotency_key=f"capture-{tenant}-{sf_id}")])[0]
    finally:
        service.stop()
        engine.dispose()
    assert isinstance(outcome, ChangePublic) and outcome.status != "held", outcome
    return outcome.canonical_id, sf_id


def writes(systems: Systems) -> dict[str, int]:
    """Writes each twin received so far, plus the SCIM server's groups."""
    return {**{name: len(counter.writes) for name, counter in systems.counters.items()},
            "scim_groups": systems.scim.count("Group")}


def parties(systems: Systems, customer: str) -> list[Any]:
    connector = systems.build().build()["tryton"]
    assert isinstance(connector, TrytonConnector)
    try:
        return connector.search("party", {"code": customer})
    finally:
        connector.close()


def _request(tenant: str, customer: str, price: str) -> OnboardRequest:
    return OnboardRequest(tenant=tenant, customer_id=customer, admin_email=f"it-{customer[-12:]}@resident.example",
                          plan_price=price, seats=3,
                          legal_entity=LegalEntity(tax_id=be_vat(customer), tax_id_type="eu_vat"))


def _settings(url: str, connections: Path) -> Settings:
    return Settings(database_url=url, sqlite_synchronous="NORMAL", connections=connections)


def test_a_pinned_tenant_is_onboarded_only_through_its_regions_endpoints(
        systems: Systems, eu: Systems, pinned_runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    customer, sf_id = captured(eu, pinned_runtime, database_url, PINNED, "Resident Europe SA")
    connections = regional_file(tmp_path / "systems.yaml", systems, eu, tryton_region="eu")
    us_before, eu_before = writes(systems), writes(eu)
    with hosted_workflows(_settings(database_url, connections), pinned_runtime, connections) as engine:
        view = start_process(engine, process_specs()["onboard-customer"], _request(PINNED, customer, eu.price()))
        done = settle(engine, view.workflow_id)
        probed = set(engine.services.endpoints())  # what /readyz probes and the worker's sampler watches
    assert probed == {"salesforce", "stripe", "zendesk", "scim", "tryton",
                      "salesforce@eu", "stripe@eu", "zendesk@eu", "scim@eu"}
    assert done.status == "completed", done
    assert writes(systems) == us_before  # not one write to any US endpoint
    after = writes(eu)
    assert all(after[name] > eu_before[name] for name in ("salesforce", "stripe", "zendesk", "scim_groups")), after
    account = next(a for a in eu.salesforce.state.store.snapshot("Account") if a["Id"] == sf_id)
    assert account["ERP_Customer_Number__c"] == customer  # the write-back went to the EU CRM
    assert len(parties(systems, customer)) == 1  # the EU ERP (the only Tryton, declared in region eu)


def test_an_unpinned_tenant_uses_the_default_endpoints(
        systems: Systems, eu: Systems, pinned_runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    customer, sf_id = captured(systems, pinned_runtime, database_url, "default", "Anywhere Trading NV")
    connections = regional_file(tmp_path / "systems.yaml", systems, eu, tryton_region="eu")
    us_before, eu_before = writes(systems), writes(eu)
    with hosted_workflows(_settings(database_url, connections), pinned_runtime, connections) as engine:
        view = start_process(engine, process_specs()["onboard-customer"],
                             _request("default", customer, systems.price()))
        done = settle(engine, view.workflow_id)
    assert done.status == "completed", done
    assert writes(eu) == eu_before
    after = writes(systems)
    assert all(after[name] > us_before[name] for name in ("salesforce", "stripe", "zendesk", "scim_groups")), after
    account = next(a for a in systems.salesforce.state.store.snapshot("Account") if a["Id"] == sf_id)
    assert account["ERP_Customer_Number__c"] == customer


def test_no_endpoint_in_the_region_is_a_task_sending_nothing_until_the_connections_are_fixed(
        systems: Systems, eu: Systems, pinned_runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    customer, _ = captured(eu, pinned_runtime, database_url, PINNED, "Stranded Europe BV")
    connections = regional_file(tmp_path / "systems.yaml", systems, eu, tryton_region=None)  # Tryton: no region
    request = _request(PINNED, customer, eu.price())
    us_before, eu_before = writes(systems), writes(eu)
    with hosted_workflows(_settings(database_url, connections), pinned_runtime, connections) as engine:
        view = start_process(engine, process_specs()["onboard-customer"], request)
        waiting = settle(engine, view.workflow_id, until=("waiting", "completed", "failed"))
        assert waiting.status == "waiting", waiting
        task = waiting.open_tasks[0]
        assert (task.step, task.kind, task.system) == ("erp-create", TaskKind.RESIDENCY, "tryton")
        assert "'eu'" in task.message and "not sent anywhere else" in task.message and task.correctable == []
    assert parties(systems, customer) == []  # the default Tryton was not used instead
    assert writes(systems) == us_before and writes(eu) == eu_before

    # The fix: Tryton declared in the EU; the runtime restarts (the run waits durably) and the task is retried.
    regional_file(connections, systems, eu, tryton_region="eu")
    with hosted_workflows(_settings(database_url, connections), pinned_runtime, connections) as engine:
        decided = store.decide(engine.services.engine, task.id, TaskAction.RETRY, "ops@corp")
        engine.wake(decided.workflow_id, decided.id)
        done = settle(engine, view.workflow_id)
    assert done.status == "completed", done
    assert len(parties(systems, customer)) == 1
    assert writes(systems) == us_before and writes(eu)["zendesk"] > eu_before["zendesk"]
