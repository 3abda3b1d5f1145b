"""The outbox relay: events committed with the golden record reach the log once, invalid ones never do."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import Engine, select, update

from concord.events.consumer import SubscriptionRunner
from concord.events.envelope import EventLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import OutboxRelay
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.storage import tables as st
from tests.events.support import Recorder
from tests.factories import change


def _ingest(ingest: IngestService) -> None:
    for c in [change("salesforce", "001A", {"Name": "Acme"}),
              change("tryton", "7", {"name": "Initech AG", "credit_status": "hold"}, at=3, canonical_id=None)]:
        result = ingest.ingest([c])[0]
        assert isinstance(result, ChangePublic), result


def _outbox(engine: Engine) -> list[tuple[str, float | None, float | None, str | None]]:
    o = st.outbox.c
    with engine.connect() as conn:
        rows = conn.execute(select(o.type, o.published_at, o.failed_at, o.last_error)
                            .where(o.kind == "event").order_by(o.seq)).all()
    return [tuple(r) for r in rows]


def test_relay_publishes_outbox_events_once(ingest: IngestService, engine: Engine, log: EventLog,
                                            registry: SchemaRegistry) -> None:
    _ingest(ingest)
    relay = OutboxRelay(engine, log, registry)
    report = relay.drain()
    types = [row[0] for row in _outbox(engine)]
    assert report.published == len(types) >= 3 and report.rejected == 0
    assert "CustomerCreated" in types and "CreditStatusChanged" in types
    assert all(row[1] is not None for row in _outbox(engine))

    # a crash after the log accepted the events but before the rows were marked: the next run re-publishes,
    # the log drops every one of them by event id
    with engine.begin() as conn:
        conn.execute(update(st.outbox).where(st.outbox.c.kind == "event").values(published_at=None))
    again = relay.drain()
    assert (again.published, again.duplicates) == (0, len(types))

    rec = Recorder()
    SubscriptionRunner("all", log, engine, rec, registry).drain()
    assert [e.type for e in rec.seen] == types
    assert {e.schema_version for e in rec.seen if e.type.endswith(("Created", "Updated"))} == {2}


def test_an_outbox_event_that_fails_its_schema_is_refused_with_the_reason(
        ingest: IngestService, engine: Engine, log: EventLog, registry: SchemaRegistry) -> None:
    _ingest(ingest)
    o = st.outbox.c
    with engine.begin() as conn:
        seq, payload = conn.execute(select(o.seq, o.payload).where(o.kind == "event").order_by(o.seq)).first()  # type: ignore[misc]
        broken = orjson.loads(payload)
        del broken["data"]["canonical_id"]
        conn.execute(update(st.outbox).where(o.seq == seq).values(payload=orjson.dumps(broken).decode()))
    report = OutboxRelay(engine, log, registry).drain()
    assert report.rejected == 1
    assert "data.canonical_id: Field required" in report.errors[0]
    failed = [row for row in _outbox(engine) if row[2] is not None]
    assert len(failed) == 1 and failed[0][1] is None and "refused" in str(failed[0][3])
    rec = Recorder()
    SubscriptionRunner("all", log, engine, rec, registry).drain()
    assert broken["event_id"] not in {e.event_id for e in rec.seen}
    assert len(rec.seen) == report.published


def test_other_producers_write_validated_events_through_the_outbox(engine: Engine, log: EventLog,
                                                                   registry: SchemaRegistry) -> None:
    from concord.events.produce import new_event, outbox_row
    from concord.events.registry import SchemaViolation

    data = {"entity": "account", "canonical_id": "cus-1", "source_system": "concord", "target_system": "stripe",
            "operation": "update", "error": "card_declined", "attempts": 3}
    event = new_event(registry, "SyncFailed", "default", "cus-1", data, "corr-1", "cmd-1")
    with pytest.raises(SchemaViolation, match=r"SyncFailed v1 refused: data\.attempts: "):
        new_event(registry, "SyncFailed", "default", "cus-1", {**data, "attempts": 0}, "corr-1", "cmd-1")
    with engine.begin() as conn:
        conn.execute(st.outbox.insert().values(**outbox_row(event)))
    assert OutboxRelay(engine, log, registry).drain().published == 1
    rec = Recorder()
    SubscriptionRunner("all", log, engine, rec, registry).drain()
    assert [(e.event_id, e.type, e.data["target_system"]) for e in rec.seen] == [(event.event_id, "SyncFailed",
                                                                                  "stripe")]
