"""The ingest repository talks to the driver directly (decision 074); its errors must still be SQLAlchemy's, or
the writer would fail a batch it should retry (a write race with another process shows as IntegrityError)."""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError

from concord.canonical.golden import GoldenRecord
from concord.storage import tables as t
from concord.storage.repository import (
    CHANGE_LOG_COLUMNS,
    OUTBOX_COLUMNS,
    BatchWrites,
    IngestRepository,
    _insert_columns,
)

_TABLES = [("golden", t.golden_records, "id"), ("bindings", t.bindings, "external_id"),
           ("match_keys", t.match_keys, "key"), ("change_log", t.change_log, "change_id"),
           ("outbox", t.outbox, "message_id"), ("approvals", t.approvals, "id")]


def _binding(canonical_id: str) -> dict[str, object]:
    now = time.time()
    return {"tenant": "default", "system": "salesforce", "entity": "account", "external_id": "001A",
            "canonical_id": canonical_id, "last_sync_at": now, "created_at": now}


def test_a_binding_race_is_an_integrity_error(engine: Engine) -> None:
    with engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(bindings=[_binding("cus-1")]))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(bindings=[_binding("cus-2")]))
    with engine.connect() as conn:
        assert IngestRepository(conn).bindings_by_canonical(["cus-1", "cus-2"]) == {"cus-1": {"salesforce": "001A"}}


def test_batch_writes_land_and_read_back(engine: Engine) -> None:
    record = GoldenRecord(tenant="default", entity="account", id="cus-1", version=1)
    keys = [{"tenant": "default", "entity": "account", "key": "domain:acme.com", "canonical_id": "cus-1"}]
    with engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(new_records=[record], bindings=[_binding("cus-1")], match_keys=keys))
    with engine.begin() as conn:  # a second writer of the same match key loses quietly; the first one stays
        IngestRepository(conn).write(BatchWrites(match_keys=[{**keys[0], "canonical_id": "cus-9"}]))
    with engine.connect() as conn:
        repo = IngestRepository(conn)
        assert repo.golden(["cus-1"])["cus-1"].version == 1
        assert repo.bindings_by_external([("default", "salesforce", "account", "001A")]) == {
            ("default", "salesforce", "account", "001A"): "cus-1"}
        assert repo.match_keys("default", "account", ["domain:acme.com"]) == {"domain:acme.com": "cus-1"}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the same new record twice: a race, retried
        IngestRepository(conn).write(BatchWrites(new_records=[record]))


def _rows_of(engine: Engine, table: Table, order: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c[order])).mappings().all()
    counters = {c.name for c in table.columns if c.primary_key and c.autoincrement is True}  # the table's own
    return [{k: v for k, v in row.items() if k not in counters} for row in rows]


def test_driver_inserts_store_what_sqlalchemys_insert_stores(engine: Engine) -> None:
    """The group commit binds each row's values by position (decision 074); every column must land exactly as
    SQLAlchemy's own insert of the same row dicts would store it, NULLs, floats and text included."""
    now = 1_700_000_000.123456
    changes = [{"change_id": f"ch-{i}", "tenant": "default", "idempotency_key": f"k-{i}", "correlation_id": f"co-{i}",
                "system": "salesforce", "entity": "account", "external_id": f"001{i}", "canonical_id": f"cus-{i}",
                "source_ts_us": 1_767_225_600_000_000 + i, "received_at": now, "mapping_version": None if i else "m@1",
                "status": "applied", "rejected": i, "pending": 0, "payload": '{"Name":"Ünïcode \\"q\\""}',
                "decision": "{}"} for i in range(3)]
    outbox = [{"message_id": f"m-{i}", "tenant": "default", "kind": "event", "type": "CustomerUpdated",
               "target": "lifecycle", "entity": "account", "canonical_id": f"cus-{i}", "correlation_id": f"co-{i}",
               "causation_id": f"ch-{i}", "payload": "{}", "created_at": now, "published_at": None, "attempts": 0,
               "next_attempt_at": None, "failed_at": None, "last_error": None} for i in range(3)]
    approvals = [{"id": "ap-1", "tenant": "default", "entity": "account", "canonical_id": "cus-1", "field": "name",
                  "value": '"x"', "current": "null", "owner": "tryton", "system": "salesforce", "source_ts_us": 5,
                  "change_id": "ch-1", "correlation_id": "co-1", "status": "pending", "created_at": now,
                  "decided_by": None, "decided_at": None, "reason": None}]
    bindings = [_binding("cus-1")]
    keys = [{"tenant": "default", "entity": "account", "key": "domain:acme.com", "canonical_id": "cus-1"}]
    record = GoldenRecord(tenant="default", entity="account", id="cus-1", version=1)
    with engine.begin() as conn:
        # the ingest writer's change-log and outbox rows are tuples in column order (decision 091)
        IngestRepository(conn).write(BatchWrites(
            new_records=[record], bindings=bindings, match_keys=keys, approvals=approvals,
            changes=[tuple(r[c] for c in CHANGE_LOG_COLUMNS) for r in changes],
            outbox=[tuple(r[c] for c in OUTBOX_COLUMNS) for r in outbox]))
    driver = {name: _rows_of(engine, table, order) for name, table, order in _TABLES}
    with engine.begin() as conn:  # the same rows again, through SQLAlchemy, on emptied tables
        for _, table, _ in _TABLES:
            conn.execute(table.delete())
        for table, rows in ((t.bindings, bindings), (t.match_keys, keys), (t.change_log, changes),
                            (t.outbox, outbox), (t.approvals, approvals)):
            conn.execute(insert(table), rows)
    expected = {name: _rows_of(engine, table, order) for name, table, order in _TABLES if name != "golden"}
    assert {k: v for k, v in driver.items() if k != "golden"} == expected
    assert driver["golden"] == [{"id": "cus-1", "tenant": "default", "entity": "account", "version": 1,
                                 "lifecycle_state": None, "data": driver["golden"][0]["data"],
                                 "created_at": driver["golden"][0]["created_at"],
                                 "updated_at": driver["golden"][0]["created_at"]}]
    assert GoldenRecord.from_json("default", "account", "cus-1", 1, orjson.loads(str(driver["golden"][0]["data"]))) \
        == record


def test_the_tuple_rows_follow_the_tables_insert_columns() -> None:
    assert tuple(_insert_columns(t.change_log)) == CHANGE_LOG_COLUMNS
    assert tuple(_insert_columns(t.outbox)) == OUTBOX_COLUMNS


def test_a_row_missing_a_column_is_refused_before_anything_is_written(engine: Engine) -> None:
    broken = _binding("cus-1")
    del broken["last_sync_at"]
    with pytest.raises(KeyError), engine.begin() as conn:
        IngestRepository(conn).write(BatchWrites(bindings=[broken]))
    with engine.connect() as conn:
        assert IngestRepository(conn).bindings_by_canonical(["cus-1"]) == {}


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_hot_reads_are_never_prepared_on_the_server(engine: Engine) -> None:
    # psycopg prepares a statement after its fifth run; PostgreSQL then keeps the plan made for the tables as
    # they were for the connection's life (for the idempotency lookup, a whole change-log scan per batch).
    with engine.begin() as conn:
        repo = IngestRepository(conn)
        for _ in range(8):
            assert repo.replays([("default", "k-1"), ("default", "k-2")]) == {}
            assert repo.bindings_by_external([("default", "salesforce", "account", "001A")]) == {}
        prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
        assert prepared == 0
