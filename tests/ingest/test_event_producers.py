"""The lifecycle milestones Concord derives from golden-record changes, each valid against its registered schema."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine

from concord.connectors.base import DataRejected
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.events.envelope import EventEnvelope
from concord.events.registry import SchemaRegistry
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.storage import queries
from tests.delivery.memory_connector import MemorySystem
from tests.factories import change


def events_of(engine: Engine, event_type: str) -> list[EventEnvelope]:
    registry = SchemaRegistry.default()
    with engine.connect() as conn:
        rows = [r for r in queries.outbox(conn, kind="event", limit=10_000) if r["type"] == event_type]
    envelopes = [EventEnvelope.model_validate(orjson.loads(r["payload"])) for r in rows]
    for envelope in envelopes:
        registry.validate(envelope)  # what the relay checks before anything reaches a subscriber
    return envelopes


def ok(outcome: object) -> ChangePublic:
    assert isinstance(outcome, ChangePublic), outcome
    return outcome


def test_customer_onboarded_when_onboarding_turns_active(ingest: IngestService, engine: Engine) -> None:
    cid = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])[0]).canonical_id
    for at, state in enumerate(["prospect", "qualified", "onboarding", "active"], start=1):
        ok(ingest.ingest([change("concord", cid, {"lifecycle_state": state}, at=at, canonical_id=cid)])[0])
    [event] = events_of(engine, "CustomerOnboarded")
    assert event.data["canonical_id"] == cid and event.data["systems"] == ["salesforce"]


def test_subscription_upgrade_and_downgrade(ingest: IngestService, engine: Engine) -> None:
    def sub(amount: int, at: int) -> None:
        ok(ingest.ingest([change("stripe", "sub_1", {"plan_price": "pro", "monthly_amount_cents": amount},
                                 entity="subscription", at=at)])[0])

    sub(1000, 1)
    sub(2500, 2)
    sub(900, 3)
    [up] = events_of(engine, "SubscriptionUpgraded")
    [down] = events_of(engine, "SubscriptionDowngraded")
    assert (up.data["mrr_before"], up.data["mrr_after"]) == (10.0, 25.0)
    assert (down.data["mrr_before"], down.data["mrr_after"]) == (25.0, 9.0)


def test_duplicate_inside_one_system_is_announced(ingest: IngestService, engine: Engine) -> None:
    first = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme", "Domain__c": "acme.com"})])[0])
    second = ok(ingest.ingest([change("salesforce", "001B", {"Name": "Acme Inc", "Domain__c": "acme.com"})])[0])
    [event] = events_of(engine, "DuplicateDetected")
    assert event.data["canonical_id"] == second.canonical_id and event.data["duplicate_of"] == first.canonical_id
    assert event.data["rule"] == "exact_key:domain:acme.com"


def test_refused_delivery_publishes_sync_failed(ingest: IngestService, engine: Engine) -> None:
    zendesk = MemorySystem("zendesk", ("organizations",))
    zendesk.failures.append(DataRejected("zendesk", "Name: is already taken", field="name"))
    cid = ok(ingest.ingest([change("salesforce", "001A", {"Name": "Acme"})])[0]).canonical_id
    CommandDispatcher(DeliveryStore(engine), {"zendesk": zendesk}).run_once()
    [event] = events_of(engine, "SyncFailed")
    assert event.data["canonical_id"] == cid and event.data["target_system"] == "zendesk"
    assert "already taken" in event.data["error"] and event.data["attempts"] == 1
