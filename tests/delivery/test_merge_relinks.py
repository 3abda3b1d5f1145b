"""A merge tells the systems: a Salesforce contact of the absorbed account is re-pointed at the survivor's own
Salesforce id by a delivered command, its reflection is no conflict, and unmerge points it back."""

from __future__ import annotations

import time

import orjson
from sqlalchemy import Engine, select, update

from concord.canonical.golden import GoldenRecord
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.ingest.service import IngestService
from concord.matching.merging import merge, unmerge
from concord.storage import queries
from concord.storage import tables as t
from tests.delivery.memory_connector import MemorySystem
from tests.delivery.test_delivery import ingest_one


def golden(engine: Engine, rid: str) -> GoldenRecord:
    with engine.connect() as conn:
        row = conn.execute(select(t.golden_records).where(t.golden_records.c.id == rid)).one()
    return GoldenRecord.from_json(row.tenant, row.entity, rid, row.version, orjson.loads(row.data))


def commands(engine: Engine) -> list[dict[str, object]]:
    o = t.outbox.c
    with engine.connect() as conn:
        rows = conn.execute(select(o.target, o.type, o.payload).where(
            o.kind == "command", o.published_at.is_(None), o.failed_at.is_(None))).all()
    return [{"target": r.target, "type": r.type, **orjson.loads(r.payload)} for r in rows]


def world(ingest: IngestService, engine: Engine) -> tuple[MemorySystem, dict[str, str]]:
    """Accounts A and B and a contact of B, all in Salesforce (memory twin) and ingested from there."""
    sf = MemorySystem("salesforce", ("Account", "Contact"))
    a = sf.create("Account", {"Name": "Acme"}, "k-a").id
    b = sf.create("Account", {"Name": "Globex Industries"}, "k-b").id
    c = sf.create("Contact", {"LastName": "Lovelace", "AccountId": b}, "k-c").id
    ids = {"a": ingest_one(ingest, "salesforce", a, {"Name": "Acme"}).canonical_id,
           "b": ingest_one(ingest, "salesforce", b, {"Name": "Globex Industries"}).canonical_id,
           "c": ingest_one(ingest, "salesforce", c, {"LastName": "Lovelace", "AccountId": b},
                           entity="contact").canonical_id, "sf_a": a, "sf_b": b, "sf_c": c}
    with engine.begin() as conn:  # the ingests' own commands (zendesk creates) are not what is tested here
        conn.execute(update(t.outbox).where(t.outbox.c.kind == "command").values(published_at=time.time()))
    return sf, ids


def test_merge_repoints_the_contact_in_salesforce_and_unmerge_points_it_back(
        ingest: IngestService, engine: Engine) -> None:
    sf, ids = world(ingest, engine)
    dispatcher = CommandDispatcher(DeliveryStore(engine), {"salesforce": sf})
    with engine.begin() as conn:
        result = merge(conn, "default", ids["a"], ids["b"], "steward", runtime=ingest.runtime)
    [cmd] = [c for c in commands(engine) if c["target"] == "salesforce"]
    assert (cmd["type"], cmd["op"], cmd["external_id"], cmd["fields"]) == (
        "update_contact", "update", ids["sf_c"], {"AccountId": ids["sf_a"]})  # A's own Salesforce id, not B's
    assert dispatcher.drain().failed == 0
    assert sf.records[ids["sf_c"]]["AccountId"] == ids["sf_a"]

    # Salesforce reports its contact back: no conflict, nothing rejected or queued, and no new command
    reflected = ingest_one(ingest, "salesforce", ids["sf_c"], {"LastName": "Lovelace", "AccountId": ids["sf_a"]},
                           at=60, entity="contact")
    assert (reflected.rejected, reflected.pending, reflected.outbound_commands) == ([], [], 0)
    assert golden(engine, ids["c"]).value("account_id") == ids["a"]
    assert commands(engine) == []

    with engine.begin() as conn:
        unmerge(conn, result.merge_id, "steward", runtime=ingest.runtime)
    [back] = [c for c in commands(engine) if c["target"] == "salesforce"]
    assert back["fields"] == {"AccountId": ids["sf_b"]}
    assert dispatcher.drain().failed == 0
    assert sf.records[ids["sf_c"]]["AccountId"] == ids["sf_b"]
    with engine.connect() as conn:
        assert queries.canonical_for(conn, "default", "salesforce", "account", ids["sf_b"]) == ids["b"]


def test_the_relinked_value_is_remembered_as_concords_own_push(ingest: IngestService, engine: Engine) -> None:
    _, ids = world(ingest, engine)
    with engine.begin() as conn:
        merge(conn, "default", ids["a"], ids["b"], "steward", runtime=ingest.runtime)
    contact = golden(engine, ids["c"])
    assert contact.is_echo("salesforce", "account_id", ids["a"])  # a non-owner's reflection would be an echo
    assert not contact.is_echo("salesforce", "account_id", ids["b"])
