"""What a merge's relinks queue for the systems (only with a runtime), what is left unrouted and why, and a
survivor that was the absorbed record's child (or parent) never becomes its own parent."""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, Engine, select

from concord.canonical.golden import GoldenRecord
from concord.hubconfig import Runtime
from concord.matching.merging import merge, unmerge
from concord.storage import tables as t
from tests.matching.test_relink import fields_of, fv, put, seed


def sent(conn: Connection) -> list[tuple[str, str, str | None, dict[str, object]]]:
    """(canonical id, target, external id, native fields) of every queued command, in order."""
    o = t.outbox.c
    rows = conn.execute(select(o.canonical_id, o.payload).where(o.kind == "command").order_by(o.seq)).all()
    return [(r.canonical_id, p["system"], p["external_id"], p["fields"]) for r in rows
            if (p := orjson.loads(r.payload))]


def relink_change(conn: Connection, rid: str, key: str) -> tuple[dict[str, object], dict[str, object]]:
    c = t.change_log.c
    row = conn.execute(select(c.payload, c.decision).where(c.canonical_id == rid, c.idempotency_key == key)).one()
    return orjson.loads(row.payload), orjson.loads(row.decision)


def test_relinks_queue_updates_in_the_survivors_salesforce_id_and_unmerge_records_what_it_cannot_send(
        engine: Engine, runtime: Runtime) -> None:
    with engine.begin() as conn:
        seed(conn)  # A bound in Salesforce as 001A; B only in Tryton and Zendesk; every related record in Salesforce
        result = merge(conn, "default", "acc-a", "acc-b", "steward", runtime=runtime)
        # only what Salesforce maps: the contact, the child account and the contract (not billing, subscription...)
        relinks = [c for c in sent(conn) if c[0] != "acc-a"]
        assert relinks == [("acc-child", "salesforce", "x-acc-child", {"ParentId": "001A"}),
                           ("con-1", "salesforce", "x-con-1", {"AccountId": "001A"}),
                           ("ctr-1", "salesforce", "x-ctr-1", {"AccountId": "001A"})]
        payload, decision = relink_change(conn, "con-1", f"merge:{result.merge_id}:con-1")
        assert payload == {"account_id": "acc-a"} and decision["outbound_commands"] == 1
        unmerge(conn, result.merge_id, "steward", runtime=runtime)
        # B has no Salesforce id to point back at: nothing invented, the change-log row says why
        assert [c for c in sent(conn) if c[0] not in ("acc-a", "acc-b")] == relinks
        payload, decision = relink_change(conn, "con-1", f"unmerge:{result.merge_id}:con-1")
        assert decision["outbound_commands"] == 0
        assert payload["unrouted"] == [{"system": "salesforce", "reason": "acc-b has no binding in salesforce"}]


def test_a_system_whose_reference_already_resolves_to_the_survivor_gets_nothing(
        engine: Engine, runtime: Runtime) -> None:
    with engine.begin() as conn:
        put(conn, "acc-a", "account", {"name": fv("Acme", "tryton")}, {"tryton": "7"})
        put(conn, "acc-b", "account", {"name": fv("Acme")}, {"salesforce": "001B"})
        put(conn, "con-1", "contact", {"account_id": fv("acc-b")}, {"salesforce": "003C"})
        merge(conn, "default", "acc-a", "acc-b", "steward", runtime=runtime)
        # 001B is now A's Salesforce id: the contact already names it
        assert [c for c in sent(conn) if c[0] == "con-1"] == []
        assert fields_of(conn, "con-1")["account_id"].value == "acc-a"


def test_without_a_runtime_nothing_is_routed(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
        merge(conn, "default", "acc-a", "acc-b", "steward")
        assert sent(conn) == []


def test_a_survivor_that_was_the_absorbed_records_child_takes_its_parent(engine: Engine) -> None:
    with engine.begin() as conn:
        put(conn, "acc-p", "account", {"name": fv("Holding")}, {})
        put(conn, "acc-a", "account", {"name": fv("Acme"), "parent_account_id": fv("acc-b", ts=90)}, {})
        put(conn, "acc-b", "account", {"name": fv("Acme Group"), "parent_account_id": fv("acc-p", ts=5)}, {})
        result = merge(conn, "default", "acc-a", "acc-b", "steward")
        assert fields_of(conn, "acc-a")["parent_account_id"].value == "acc-p"  # B's place in the hierarchy
        unmerge(conn, result.merge_id, "steward")
        assert fields_of(conn, "acc-a")["parent_account_id"].value == "acc-b"


def test_a_merged_pair_with_no_parent_outside_it_has_no_parent(engine: Engine) -> None:
    with engine.begin() as conn:
        put(conn, "acc-a", "account", {"name": fv("Acme"), "parent_account_id": fv("acc-b")}, {})
        put(conn, "acc-b", "account", {"name": fv("Acme Group")}, {})
        put(conn, "acc-c", "account", {"name": fv("Beta")}, {})
        put(conn, "acc-d", "account", {"name": fv("Beta Sub"), "parent_account_id": fv("acc-c")}, {})
        merge(conn, "default", "acc-a", "acc-b", "steward")
        assert "parent_account_id" not in fields_of(conn, "acc-a")
        merge(conn, "default", "acc-c", "acc-d", "steward")  # the survivor was the absorbed record's parent
        assert "parent_account_id" not in fields_of(conn, "acc-c")


def test_the_absorbed_records_systems_hear_the_survivors_fields_and_unmerge_takes_them_back(
        engine: Engine, runtime: Runtime) -> None:
    with engine.begin() as conn:
        seed(conn)  # B is organisation z9 in Zendesk, named "ACME Inc"; the survivor is "Acme"
        result = merge(conn, "default", "acc-a", "acc-b", "steward", runtime=runtime)
        # z9 now stands for A: it is told A's name (Salesforce's 001A is not told B's legal name: not mapped)
        assert [c for c in sent(conn) if c[0] == "acc-a"] == [("acc-a", "zendesk", "z9", {"name": "Acme"})]
        assert echoed(conn, "acc-a", "zendesk", "name", "Acme")
        unmerge(conn, result.merge_id, "steward", runtime=runtime)
        assert [c for c in sent(conn) if c[0] == "acc-b"] == [("acc-b", "zendesk", "z9", {"name": "ACME Inc"})]
        assert echoed(conn, "acc-b", "zendesk", "name", "ACME Inc")


def echoed(conn: Connection, rid: str, system: str, path: str, value: str) -> bool:
    """Whether `rid` remembers `value` as pushed to `system` (its reflection is an echo, not a conflict)."""
    row = conn.execute(select(t.golden_records).where(t.golden_records.c.id == rid)).one()
    record = GoldenRecord.from_json(row.tenant, row.entity, rid, row.version, orjson.loads(row.data))
    return record.is_echo(system, path, value)


def test_the_survivors_owner_is_told_its_new_parent_when_it_was_the_absorbed_records_child(
        engine: Engine, runtime: Runtime) -> None:
    with engine.begin() as conn:
        put(conn, "acc-p", "account", {"name": fv("Holding")}, {"salesforce": "001P"})
        put(conn, "acc-a", "account", {"name": fv("Acme"), "parent_account_id": fv("acc-b", ts=90)},
            {"salesforce": "001A"})
        put(conn, "acc-b", "account", {"name": fv("Acme"), "parent_account_id": fv("acc-p", ts=5)},
            {"salesforce": "001B"})
        result = merge(conn, "default", "acc-a", "acc-b", "steward", runtime=runtime)
        # Salesforce owns parent_account_id, yet its 001A still hangs under 001B (now A itself): it must hear
        assert sent(conn) == [("acc-a", "salesforce", "001A", {"ParentId": "001P"})]
        assert echoed(conn, "acc-a", "salesforce", "parent_account_id", "acc-p")
        unmerge(conn, result.merge_id, "steward", runtime=runtime)
        assert sent(conn)[1:] == [("acc-a", "salesforce", "001A", {"ParentId": "001B"})]
        assert echoed(conn, "acc-a", "salesforce", "parent_account_id", "acc-b")
