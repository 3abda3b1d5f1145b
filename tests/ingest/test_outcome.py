"""The ingest writer builds its public results without pydantic's model_construct (decision 074): they must be
the very objects model_construct would have built, or the API and the change log would drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import orjson
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from concord.canonical.golden import GoldenRecord, us_to_ts
from concord.events.derive import DerivedEvent
from concord.hubconfig import load_runtime
from concord.ingest.models import ChangeCreate, ChangePublic, ChangeStatus, FieldIssue
from concord.ingest.outcome import change_public, change_row, decision_json, event_rows
from concord.ingest.prepare import PreparedChange, prepare
from concord.ingest.service import prepare_all, process_in_transaction
from concord.ownership.gate import FieldRejection, GateDecision, PendingApproval
from concord.storage import tables as t
from concord.storage.repository import CHANGE_LOG_COLUMNS, OUTBOX_COLUMNS


def _prepared() -> PreparedChange:
    return prepare(load_runtime(None), ChangeCreate(
        system="salesforce", entity="account", external_id="sf-1", fields={"Name": "Acme"},
        source_ts=datetime(2026, 1, 1, tzinfo=UTC), idempotency_key="k-1"))


@cache
def _one_prepared() -> PreparedChange:
    return _prepared()


def test_change_public_equals_model_construct() -> None:
    p = _prepared()
    decision = GateDecision(applied={"name": "Acme", "phone": "+1"}, previous={"name": None, "phone": None},
                            rejected=[FieldRejection("tax_id", "X", "tryton", "tax_id is owned by tryton")],
                            pending=[PendingApproval("credit_limit", 5, None, "tryton", "salesforce", 1)],
                            stale=["city"], echoes=["code"])
    built = change_public(p, "cus-1", True, decision, 2)
    expected = ChangePublic.model_construct(
        change_id=p.change_id, canonical_id="cus-1", status=ChangeStatus.PARTIAL, created=True,
        applied=["name", "phone"], rejected=[FieldIssue(field="tax_id", reason="tax_id is owned by tryton")],
        pending=["credit_limit"], stale=["city"], echoes=["code"],
        mapping_version=p.mapping_version, correlation_id=p.correlation_id,
        outbound_commands=2, replayed=False)
    assert built == expected
    assert built.model_fields_set == expected.model_fields_set
    constructed = FieldIssue.model_construct(field="tax_id", reason="tax_id is owned by tryton")
    assert built.rejected == [constructed]
    assert [r.model_fields_set for r in built.rejected] == [constructed.model_fields_set]
    assert built.model_dump_json() == expected.model_dump_json()
    assert ChangePublic.model_validate_json(built.model_dump_json()) == built
    assert built.model_copy(update={"replayed": True}).replayed is True


def test_decision_json_is_what_pydantic_writes() -> None:
    p = _prepared()
    odd = 'tax_id is owned by "tryton"\n\t\x01 ünïcode \u2028 \\ end'
    decisions = [GateDecision(), GateDecision(applied={"name": "Acme"}, previous={"name": None}),
                 GateDecision(rejected=[FieldRejection("tax_id", "X", "tryton", odd)], stale=["a", "b"])]
    results = [change_public(p, "cus-1", created, d, n) for created, d, n in zip((True, False, False), decisions,
                                                                                 (0, 1, 3), strict=True)]
    results.append(results[2].model_copy(update={"replayed": True, "review_id": "rev-1", "mapping_version": None}))
    for result in results:
        assert decision_json(result) == result.model_dump_json()
        assert ChangePublic.model_validate_json(decision_json(result)) == result


@given(st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999))  # years 1 to 9999
def test_an_events_occurred_at_is_the_isoformat_of_the_change_source_time(us: int) -> None:
    """The envelope carries the datetime and orjson writes it: the text must be what isoformat() gives,
    with and without microseconds, as consumers and replayed events already hold it."""
    p = _one_prepared()
    p = PreparedChange(p.request, p.change_id, p.correlation_id, us, p.values, p.references, p.mapping_version)
    record = GoldenRecord(tenant="default", entity="account", id="cus-1", version=1)
    [row] = event_rows(p, record, [DerivedEvent("CustomerCreated", {"canonical_id": "cus-1"})])
    occurred = orjson.loads(dict(zip(OUTBOX_COLUMNS, row, strict=True))["payload"])["occurred_at"]
    assert occurred == (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).isoformat()
    assert us_to_ts(us) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def test_the_change_and_event_rows_put_each_value_in_its_column() -> None:
    """The rows are tuples in the tables' column order (decision 091): read back by name, each value must be
    the one that column is for."""
    p = _one_prepared()
    decision = GateDecision(applied={"name": "Acme"}, previous={"name": None},
                            rejected=[FieldRejection("tax_id", "X", "tryton", "owned")],
                            pending=[PendingApproval("credit_limit", 5, None, "tryton", "salesforce", 1)])
    result = change_public(p, "cus-1", True, decision, 2)
    row = dict(zip(CHANGE_LOG_COLUMNS, change_row(p, "cus-1", result, decision), strict=True))
    received = row.pop("received_at")
    assert isinstance(received, float)
    assert row == {"change_id": p.change_id, "tenant": "default", "idempotency_key": "k-1",
                   "correlation_id": p.correlation_id, "system": "salesforce", "entity": "account",
                   "external_id": "sf-1", "canonical_id": "cus-1", "source_ts_us": p.source_ts_us,
                   "mapping_version": p.mapping_version, "status": "partial", "rejected": 1, "pending": 1,
                   "payload": '{"Name":"Acme"}', "decision": decision_json(result)}
    record = GoldenRecord(tenant="default", entity="account", id="cus-1", version=1)
    [event] = event_rows(p, record, [DerivedEvent("CustomerCreated", {"canonical_id": "cus-1"})])
    event_row = dict(zip(OUTBOX_COLUMNS, event, strict=True))
    envelope = orjson.loads(event_row.pop("payload"))
    assert isinstance(event_row.pop("created_at"), float)
    assert event_row == {"message_id": envelope["event_id"], "tenant": "default", "kind": "event",
                         "type": "CustomerCreated", "target": "lifecycle", "entity": "account", "canonical_id": "cus-1",
                         "correlation_id": p.correlation_id, "causation_id": p.change_id, "attempts": 0}
    assert envelope["type"] == "CustomerCreated" and envelope["customer_key"] == "cus-1"


def test_an_ingested_command_row_lands_in_its_columns(engine: Engine) -> None:
    """The processor's outbound-command rows are tuples too (decision 091): read back from the table by
    column name, each value is in its place."""
    runtime = load_runtime(None)
    prepared, errors = prepare_all(runtime, [ChangeCreate(
        system="salesforce", entity="account", external_id="sf-9", fields={"Name": "Acme"},
        source_ts=datetime(2026, 1, 1, tzinfo=UTC), idempotency_key="k-9", correlation_id="corr-9")])
    assert not errors
    [outcome] = process_in_transaction(engine, runtime, prepared)
    assert isinstance(outcome, ChangePublic) and outcome.outbound_commands >= 1
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(t.outbox).where(t.outbox.c.kind == "command"))]
    assert len(rows) == outcome.outbound_commands
    for row in rows:
        payload = orjson.loads(row["payload"])
        assert row["type"] == f"{payload['op']}_account" and row["target"] == payload["system"]
        assert (row["tenant"], row["entity"], row["canonical_id"]) == ("default", "account", outcome.canonical_id)
        assert (row["correlation_id"], row["causation_id"]) == ("corr-9", outcome.change_id)
        assert isinstance(row["created_at"], float) and row["attempts"] == 0 and row["published_at"] is None
