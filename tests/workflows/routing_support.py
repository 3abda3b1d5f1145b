"""Routed starts for tests: a Salesforce Opportunity captured into Concord as a canonical contract, and the hub's
event path (outbox → log → the routed subscriptions of the bundled events.yaml → the signal starter) run once."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from concord.events.embedded import EmbeddedLog
from concord.events.hub import build_runners
from concord.events.registry import SchemaRegistry
from concord.events.relay import OutboxRelay
from concord.events.routing import load_routing
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.workflows.engine import WorkflowEngine
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import process_specs
from concord.workflows.signals import SignalStarter
from tests.workflows.support import Systems, crm_customer

ROUTED = ("lead-conversion", "closed-won")


def ingest(engine: WorkflowEngine, runtime: Runtime, change: ChangeCreate) -> ChangePublic:
    service = IngestService(engine.services.engine, runtime)
    service.start()
    try:
        outcome = service.ingest([change])[0]
    finally:
        service.stop()
    assert isinstance(outcome, ChangePublic), outcome
    return outcome


def deal(engine: WorkflowEngine, systems: Systems, runtime: Runtime, sf_account: str, stage: str,
         opportunity: str | None = None) -> tuple[str, str]:
    """An Opportunity as sales keeps it (created, or moved to `stage`), captured into Concord. (SF id, contract)"""
    store = systems.salesforce.state.store
    values = {"AccountId": sf_account, "Name": "Annual platform deal", "StageName": stage,
              "CloseDate": "2026-12-31", "Amount": 1200}
    if opportunity is None:
        opportunity = store.inject("Opportunity", values)
    else:
        store.tamper("Opportunity", opportunity, {"StageName": stage})
    outcome = ingest(engine, runtime, ChangeCreate(
        system="salesforce", entity="contract", external_id=opportunity, fields=values,
        source_ts=datetime.now(UTC), idempotency_key=f"capture-{opportunity}-{stage}"))
    return opportunity, outcome.canonical_id


def route(engine: WorkflowEngine, subscriptions: tuple[str, ...] = ROUTED) -> int:
    """The hub's event path once: outbox → log → the routed subscriptions → the signal starter."""
    registry = SchemaRegistry.default()
    db = engine.services.engine
    log = EmbeddedLog(db, partitions=4)
    try:
        OutboxRelay(db, log, registry).drain()
        routing = load_routing(None, set(registry.types()))
        with httpx.Client() as http:
            runners = build_runners(routing, log, db, registry, http, environ={})
            try:
                for name in subscriptions:
                    runners[name].drain()
            finally:
                for runner in runners.values():
                    runner.close()
    finally:
        log.close()
    return SignalStarter(engine, {**process_specs(), **lifecycle_specs()}).poll()


def prospect(engine: WorkflowEngine, systems: Systems, runtime: Runtime, url: str, name: str) -> tuple[str, str]:
    customer, sf_id = crm_customer(systems, runtime, url, name, Lifecycle_Stage__c="Prospect", ShippingCountry="US",
                                   ShippingCity="Austin", ShippingPostalCode="73301")
    ingest(engine, runtime, ChangeCreate(system="concord", entity="account", external_id=customer,
                                         canonical_id=customer, fields={"lifecycle_state": "prospect"},
                                         source_ts=datetime.now(UTC), idempotency_key=f"lead-{customer}"))
    return customer, sf_id
