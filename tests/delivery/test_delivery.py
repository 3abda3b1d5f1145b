"""Outbox commands reach the target systems in order per customer; change capture feeds ingest durably."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, select

from concord.connectors.base import DataRejected, RetryableError
from concord.delivery.capture import ChangeCapture
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.storage import queries
from concord.storage import tables as t
from tests.delivery.memory_connector import MemorySystem
from tests.factories import change


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def setup(engine: Engine) -> tuple[MemorySystem, MemorySystem, CommandDispatcher, Clock]:
    zendesk = MemorySystem("zendesk", ("organizations",))
    salesforce = MemorySystem("salesforce", ("Account",))
    clock = Clock()
    dispatcher = CommandDispatcher(DeliveryStore(engine), {"zendesk": zendesk, "salesforce": salesforce},
                                   clock=clock)
    return zendesk, salesforce, dispatcher, clock


def ingest_one(ingest: IngestService, *args: object, **kwargs: object) -> ChangePublic:
    result = ingest.ingest([change(*args, **kwargs)])[0]  # type: ignore[arg-type]
    assert isinstance(result, ChangePublic), result
    return result


def test_create_then_updates_reach_the_target_once_and_bind(ingest: IngestService, engine: Engine) -> None:
    zendesk, _, dispatcher, _ = setup(engine)
    cid = ingest_one(ingest, "salesforce", "001A", {"Name": "Acme", "Type": "SMB"}).canonical_id
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme Corp"}, at=5)
    report = dispatcher.drain()
    assert (report.delivered, report.failed) == (2, 0)
    [(op1, zid), (op2, zid2)] = zendesk.log
    assert (op1, op2) == ("create", "update") and zid == zid2
    assert zendesk.records[zid]["name"] == "Acme Corp"
    assert zendesk.records[zid]["organization_fields"]["segment"] == "smb"
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "zendesk", "account", zid) == cid
    assert dispatcher.drain().delivered == 0  # nothing delivered twice


def test_transient_failure_defers_and_keeps_order_per_customer(ingest: IngestService, engine: Engine) -> None:
    zendesk, _, dispatcher, clock = setup(engine)
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme"})
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme 2"}, at=5)
    ingest_one(ingest, "salesforce", "001B", {"Name": "Beta"}, at=6)
    zendesk.failures.append(RetryableError("zendesk", "503 Service Unavailable"))
    first = dispatcher.run_once()
    assert (first.deferred, first.held_back, first.delivered) == (1, 1, 1)  # Beta went on; Acme 2 waited
    assert [op for op, _ in zendesk.log] == ["create"]
    assert dispatcher.run_once().delivered == 0  # not due yet: backoff
    clock.now += 60
    assert dispatcher.drain().delivered == 2
    acme = next(rid for rid, f in zendesk.records.items() if f["name"].startswith("Acme"))
    assert zendesk.records[acme]["name"] == "Acme 2"


def test_refused_command_is_failed_with_the_system_message(ingest: IngestService, engine: Engine) -> None:
    zendesk, _, dispatcher, _ = setup(engine)
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme"})
    ingest_one(ingest, "salesforce", "001A", {"Name": "Acme 2"}, at=5)
    zendesk.failures.append(DataRejected("zendesk", "Name: is already taken", field="name"))
    report = dispatcher.run_once()
    assert (report.failed, report.held_back) == (1, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.failed_at, t.outbox.c.last_error)
                            .where(t.outbox.c.failed_at.is_not(None))).all()
    assert len(rows) == 1 and "Name: is already taken" in rows[0].last_error


def test_capture_ingests_changes_and_the_echo_of_our_own_write_is_suppressed(
        ingest: IngestService, engine: Engine) -> None:
    _, salesforce, dispatcher, _ = setup(engine)
    store = DeliveryStore(engine)
    capture = ChangeCapture(store, ingest)
    salesforce.create("Account", {"Name": "Acme", "Type": "Enterprise"}, idempotency_key="crm-user-1")
    report = capture.poll("salesforce", salesforce, "Account", "account")
    assert (report.records, report.applied) == (1, 1)
    with engine.connect() as conn:
        sf_cid = queries.canonical_for(conn, "default", "salesforce", "account", "sa-1")
    assert sf_cid is not None
    ingest_one(ingest, "tryton", "9b", {"code": "C-10"}, at=30, canonical_id=sf_cid)
    assert dispatcher.drain().failed == 0
    assert salesforce.log == [("create", "sa-1"), ("update", "sa-1")]  # the test's own create, then Concord's
    assert salesforce.records["sa-1"]["ERP_Customer_Number__c"] == "C-10"
    echo = capture.poll("salesforce", salesforce, "Account", "account")
    assert echo.applied == 1  # the change is recorded ...
    with engine.connect() as conn:
        last = queries.changes_of(conn, sf_cid, limit=1)[0]
    decision = orjson.loads(last["decision"])
    assert decision["echoes"] == ["erp_customer_number"] and decision["rejected"] == []  # ... as an echo
    assert capture.poll("salesforce", salesforce, "Account", "account").records == 0


def test_capture_replays_a_page_whose_cursor_was_not_saved(ingest: IngestService, engine: Engine) -> None:
    _, salesforce, _, _ = setup(engine)
    store = DeliveryStore(engine)
    for i in range(3):
        salesforce.create("Account", {"Name": f"C{i}"}, idempotency_key=f"k{i}")
    ChangeCapture(store, ingest).poll("salesforce", salesforce, "Account", "account")
    store.save_cursor("default", "salesforce", "Account", None)  # as if the process died before saving
    again = ChangeCapture(store, ingest).poll("salesforce", salesforce, "Account", "account")
    assert (again.replayed, again.applied) == (3, 0)
    with engine.connect() as conn:
        assert queries.counts(conn)["golden"]["account"] == 3


def test_start_from_now_skips_what_exists(ingest: IngestService, engine: Engine) -> None:
    _, salesforce, _, _ = setup(engine)
    for i in range(5):
        salesforce.create("Account", {"Name": f"Old {i}"}, idempotency_key=f"old{i}")
    capture = ChangeCapture(DeliveryStore(engine), ingest)
    assert capture.start_from_now("salesforce", salesforce, "Account") == 5
    salesforce.create("Account", {"Name": "New"}, idempotency_key="new")
    report = capture.poll("salesforce", salesforce, "Account", "account")
    assert (report.records, report.applied) == (1, 1)
