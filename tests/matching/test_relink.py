"""Merging two accounts re-points every record that referred to the absorbed one (with provenance, change-log
rows, events and audit entries), and unmerge puts each back exactly."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, insert, select, update

from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
from concord.canonical.models import ENTITY_TYPES
from concord.matching.merging import merge, unmerge
from concord.matching.relink import reference_fields
from concord.security import audit
from concord.security.tables import audit_log
from concord.storage import tables as t
from concord.storage.repository import dumps


def fv(value: Any, system: str = "salesforce", ts: int = 10, authoritative: bool = True) -> FieldValue:
    return FieldValue(value, Provenance(system, ts, f"chg-{system}-{ts}", f"{system}/x@1"), authoritative)


def put(conn: Connection, rid: str, entity: str, fields: dict[str, FieldValue], bound: dict[str, str],
        tenant: str = "default") -> None:
    now = time.time()
    record = GoldenRecord(tenant, entity, rid, 3, fields)
    conn.execute(insert(t.golden_records), [{"id": rid, "tenant": tenant, "entity": entity, "version": 3,
                                             "lifecycle_state": None, "data": dumps(record.to_json()),
                                             "created_at": now, "updated_at": now}])
    for system, ext in bound.items():
        conn.execute(insert(t.bindings), [{"tenant": tenant, "system": system, "entity": entity, "external_id": ext,
                                           "canonical_id": rid, "last_sync_at": now, "created_at": now}])


def state(conn: Connection) -> dict[str, Any]:
    """Every golden row (data byte for byte) and every binding: what an unmerge must give back."""
    g, b = t.golden_records.c, t.bindings.c
    return {"records": {r.id: (r.entity, r.lifecycle_state, r.data) for r in conn.execute(
                select(g.id, g.entity, g.lifecycle_state, g.data))},
            "bindings": sorted((r.system, r.entity, r.external_id, r.canonical_id) for r in conn.execute(
                select(b.system, b.entity, b.external_id, b.canonical_id)))}


def fields_of(conn: Connection, rid: str) -> dict[str, FieldValue]:
    row = conn.execute(select(t.golden_records).where(t.golden_records.c.id == rid)).one()
    return GoldenRecord.from_json(row.tenant, row.entity, rid, row.version, orjson.loads(row.data)).fields


RELATED = {  # id → (entity, fields): everything that can name an account, and two records that must not move
    "con-1": ("contact", {"account_id": fv("acc-b"), "email": fv("a@b.example")}),
    "ba-1": ("billing_account", {"account_id": fv("acc-b", "concord", 20), "name": fv("B billing", "stripe")}),
    "sub-1": ("subscription", {"account_id": fv("acc-b", "concord", 30), "billing_account_id": fv("ba-1", "stripe"),
                               "plan": fv("pro", "stripe")}),
    "ctr-1": ("contract", {"account_id": fv("acc-b", "tryton", 40, False), "number": fv("SO-7", "tryton")}),
    "ent-1": ("entitlement", {"account_id": fv("acc-b", "concord", 50), "product": fv("support", "zendesk")}),
    "acc-child": ("account", {"parent_account_id": fv("acc-b"), "name": fv("B Subsidiary")}),
    "con-a": ("contact", {"account_id": fv("acc-a"), "email": fv("x@a.example")}),
    "con-other": ("contact", {"account_id": fv("acc-bb"), "last_name": fv("acc-b")}),  # names B, not as a reference
}


def seed(conn: Connection) -> None:
    put(conn, "acc-a", "account", {"name": fv("Acme")}, {"salesforce": "001A"})
    put(conn, "acc-b", "account", {"name": fv("ACME Inc", "tryton", 5, False), "legal_name": fv("Acme", "tryton")},
        {"tryton": "7", "zendesk": "z9"})
    for rid, (entity, fields) in RELATED.items():
        put(conn, rid, entity, fields, {"salesforce": f"x-{rid}"})


def test_reference_fields_are_read_from_the_canonical_models() -> None:
    to_account = reference_fields("account")
    assert to_account.items() >= {
        "account": ("parent_account_id",), "billing_account": ("account_id",), "contact": ("account_id",),
        "contract": ("account_id",), "entitlement": ("account_id",), "subscription": ("account_id",)}.items()
    # any entity that gains an account reference (invoices, say) is relinked without a change here
    assert {e for e, model in ENTITY_TYPES.items() if "account_id" in model.model_fields} <= set(to_account)
    assert reference_fields("billing_account").items() >= {"subscription": ("billing_account_id",)}.items()
    assert reference_fields("contract") == {}


def test_merge_relinks_related_records_and_unmerge_restores_everything_exactly(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
        before = state(conn)
    with engine.begin() as conn:
        result = merge(conn, "default", "acc-a", "acc-b", "steward", "same VAT")
    moved = ["acc-child", "ba-1", "con-1", "ctr-1", "ent-1", "sub-1"]
    assert result.relinked == len(moved)
    with engine.connect() as conn:
        for rid in moved:
            entity, old = RELATED[rid]
            path = "parent_account_id" if entity == "account" else "account_id"
            now = fields_of(conn, rid)
            assert now[path].value == "acc-a"
            # the statement's system, time and authority are kept; its change id is the relink's change-log row
            kept = (old[path].provenance.system, old[path].provenance.source_ts_us, old[path].authoritative)
            assert (now[path].provenance.system, now[path].provenance.source_ts_us, now[path].authoritative) == kept
            change = conn.execute(select(t.change_log).where(
                t.change_log.c.change_id == now[path].provenance.change_id)).one()
            assert (change.system, change.canonical_id, change.correlation_id) == ("concord", rid, result.merge_id)
            assert orjson.loads(change.payload) == {path: "acc-a"}
            assert {p: v for p, v in now.items() if p != path} == {p: v for p, v in old.items() if p != path}
        assert fields_of(conn, "sub-1")["billing_account_id"].value == "ba-1"
        assert fields_of(conn, "con-a")["account_id"].value == "acc-a"
        assert fields_of(conn, "con-other")["last_name"].value == "acc-b"  # not a reference: untouched
        events = {(r.type, r.canonical_id): orjson.loads(r.payload) for r in conn.execute(
            select(t.outbox.c.type, t.outbox.c.canonical_id, t.outbox.c.payload).where(t.outbox.c.kind == "event"))}
        assert events[("ContactUpdated", "con-1")]["data"]["changes"] == {"account_id": {"before": "acc-b",
                                                                                         "after": "acc-a"}}
        assert events[("ContactUpdated", "con-1")]["customer_key"] == "acc-a"
        assert {("SubscriptionUpdated", "sub-1"), ("CustomerUpdated", "acc-child"), ("CustomersMerged", "acc-a"),
                ("EntitlementUpdated", "ent-1"), ("ContractUpdated", "ctr-1"),
                ("BillingAccountUpdated", "ba-1")} <= set(events)
        actions = [r.action for r in conn.execute(select(audit_log.c.action).order_by(audit_log.c.seq))]
        assert actions == ["ingest.batch", "customer.merged"]  # the change-log rows sealed, then the merge
        assert audit.verify(conn).ok
    with engine.begin() as conn:
        back = unmerge(conn, result.merge_id, "steward")
    assert back.relinked == len(moved)
    with engine.connect() as conn:
        assert state(conn) == before
        events = [r.type for r in conn.execute(select(t.outbox.c.type).where(
            t.outbox.c.kind == "event", t.outbox.c.canonical_id == "con-1"))]
        assert events == ["ContactUpdated", "ContactUpdated"]
        assert audit.verify(conn).ok


def test_unmerge_points_back_only_the_reference_of_a_record_written_since(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
    with engine.begin() as conn:
        result = merge(conn, "default", "acc-a", "acc-b", "steward")
        # after the merge, the CRM changes one contact's e-mail and moves another contact elsewhere
        con = GoldenRecord("default", "contact", "con-1", 4, {**fields_of(conn, "con-1"),
                                                              "email": fv("new@b.example", ts=99)})
        conn.execute(update(t.golden_records).where(t.golden_records.c.id == "con-1").values(
            version=5, data=dumps(con.to_json())))
        ctr = GoldenRecord("default", "contract", "ctr-1", 4, {**fields_of(conn, "ctr-1"),
                                                               "account_id": fv("acc-z", "salesforce", 99)})
        conn.execute(update(t.golden_records).where(t.golden_records.c.id == "ctr-1").values(
            version=5, data=dumps(ctr.to_json())))
    with engine.begin() as conn:
        back = unmerge(conn, result.merge_id, "steward")
    with engine.connect() as conn:
        con_now = fields_of(conn, "con-1")
        assert con_now["account_id"] == RELATED["con-1"][1]["account_id"]  # value and provenance as before
        assert con_now["email"].value == "new@b.example"  # the later write is kept
        assert fields_of(conn, "ctr-1")["account_id"].value == "acc-z"  # someone's newer word stays
    assert back.relinked == 5


def test_merging_billing_accounts_relinks_subscriptions(engine: Engine) -> None:
    with engine.begin() as conn:
        put(conn, "ba-a", "billing_account", {"name": fv("A", "stripe")}, {"stripe": "cus_A"})
        put(conn, "ba-b", "billing_account", {"name": fv("A2", "stripe")}, {"stripe": "cus_B"})
        put(conn, "sub-x", "subscription", {"billing_account_id": fv("ba-b", "stripe")}, {"stripe": "sub_X"})
        before = state(conn)
        result = merge(conn, "default", "ba-a", "ba-b", "steward")
        assert fields_of(conn, "sub-x")["billing_account_id"].value == "ba-a"
        unmerge(conn, result.merge_id, "steward")
        assert state(conn) == before


@pytest.mark.parametrize("tenant", ["other"])
def test_records_of_another_tenant_are_not_relinked(engine: Engine, tenant: str) -> None:
    with engine.begin() as conn:
        seed(conn)
        put(conn, "con-t", "contact", {"account_id": fv("acc-b")}, {}, tenant=tenant)
        merge(conn, "default", "acc-a", "acc-b", "steward")
        assert fields_of(conn, "con-t")["account_id"].value == "acc-b"
