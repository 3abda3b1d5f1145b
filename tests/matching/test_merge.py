"""Merge and unmerge: survivorship by ownership with provenance kept, bindings moved, an event, and an exact undo."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, insert, select

from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
from concord.matching.merging import MergeRefused, merge, unmerge
from concord.matching.survivorship import survive
from concord.storage import tables as t
from concord.storage.engine import make_engine, upgrade
from concord.storage.repository import dumps

_ids = itertools.count()


def fv(value: Any, system: str, ts: int, authoritative: bool) -> FieldValue:
    return FieldValue(value, Provenance(system, ts, f"chg-{system}-{ts}", f"{system}/account@1"), authoritative)


def test_the_owners_value_wins_with_its_provenance_whatever_the_age() -> None:
    survivor = GoldenRecord("default", "account", "A", 3, {
        "name": fv("Acme (CRM copy)", "hubspot", 900, False), "phone": fv("+1 1", "salesforce", 100, True)})
    absorbed = GoldenRecord("default", "account", "B", 5, {
        "name": fv("Acme Inc", "salesforce", 50, True), "phone": fv("+1 2", "salesforce", 200, True),
        "legal_name": fv("Acme Incorporated", "tryton", 10, True)})
    merged = survive(survivor, absorbed)
    assert merged.id == "A" and merged.version == 3
    assert merged.fields["name"] == absorbed.fields["name"]  # authoritative beats newer non-owner value
    assert merged.fields["phone"] == absorbed.fields["phone"]  # both the owner's: the newer one
    assert merged.fields["legal_name"].provenance.system == "tryton"
    with pytest.raises(ValueError, match="same tenant and entity"):
        survive(survivor, GoldenRecord("default", "contact", "C"))


def _put(conn: Connection, record: GoldenRecord, systems: dict[str, str]) -> None:
    now = time.time()
    conn.execute(insert(t.golden_records), [{"id": record.id, "tenant": record.tenant, "entity": record.entity,
                                             "version": record.version, "lifecycle_state": None,
                                             "data": dumps(record.to_json()), "created_at": now, "updated_at": now}])
    for system, ext in systems.items():
        conn.execute(insert(t.bindings), [{"tenant": record.tenant, "system": system, "entity": record.entity,
                                           "external_id": ext, "canonical_id": record.id, "last_sync_at": now,
                                           "created_at": now}])
    conn.execute(insert(t.match_keys), [{"tenant": record.tenant, "entity": record.entity,
                                         "key": f"domain:{record.id}.example", "canonical_id": record.id}])


def _state(conn: Connection) -> dict[str, Any]:
    g, b, k = t.golden_records.c, t.bindings.c, t.match_keys.c
    return {"records": {r.id: (r.tenant, r.entity, r.lifecycle_state, orjson.loads(r.data))
                        for r in conn.execute(select(g.id, g.tenant, g.entity, g.lifecycle_state, g.data))},
            "bindings": sorted((r.system, r.external_id, r.canonical_id)
                               for r in conn.execute(select(b.system, b.external_id, b.canonical_id))),
            "keys": sorted((r.key, r.canonical_id) for r in conn.execute(select(k.key, k.canonical_id)))}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('merge')) / 'm.db'}", "NORMAL")
    upgrade(engine)
    return engine


def test_merge_moves_bindings_emits_the_event_and_unmerge_restores(engine: Engine) -> None:
    a = GoldenRecord("default", "account", "cus-a", 2, {"name": fv("Acme", "salesforce", 10, True)})
    b = GoldenRecord("default", "account", "cus-b", 4, {"legal_name": fv("Acme GmbH", "tryton", 20, True),
                                                        "name": fv("ACME", "tryton", 30, False)})
    with engine.begin() as conn:
        _put(conn, a, {"salesforce": "001A"})
        _put(conn, b, {"tryton": "7", "zendesk": "z9"})
        before = _state(conn)
    with engine.begin() as conn:
        result = merge(conn, "default", "cus-a", "cus-b", "steward", "same VAT")
    with engine.connect() as conn:
        after = _state(conn)
        [event] = conn.execute(select(t.outbox.c.type, t.outbox.c.payload).where(t.outbox.c.kind == "event")).all()
    assert result.moved_bindings == 2 and set(after["records"]) == {"cus-a"}
    assert {c for _, _, c in after["bindings"]} == {"cus-a"}
    merged = after["records"]["cus-a"][3]["f"]
    assert merged["name"][0] == "Acme" and merged["legal_name"][0] == "Acme GmbH"
    data = orjson.loads(event.payload)["data"]
    assert event.type == "CustomersMerged" and data["absorbed_id"] == "cus-b" and data["systems"] == ["tryton",
                                                                                                        "zendesk"]
    with engine.begin() as conn:
        unmerge(conn, result.merge_id, "steward")
    with engine.connect() as conn:
        assert _state(conn) == before
    with engine.begin() as conn, pytest.raises(MergeRefused, match="already unmerged"):
        unmerge(conn, result.merge_id, "steward")


def test_unmerge_refuses_to_drop_later_writes_to_the_survivor(store: Engine) -> None:
    ids = [f"r{next(_ids)}" for _ in range(2)]
    with store.begin() as conn:
        for rid in ids:
            _put(conn, GoldenRecord("default", "account", rid, 1, {"name": fv(rid, "salesforce", 1, True)}), {})
        result = merge(conn, "default", ids[0], ids[1], "steward")
        conn.execute(t.golden_records.update().where(t.golden_records.c.id == ids[0]).values(version=99))
    with store.begin() as conn, pytest.raises(MergeRefused, match="changed since merge"):
        unmerge(conn, result.merge_id, "steward")
    with store.begin() as conn, pytest.raises(MergeRefused, match="into itself"):
        merge(conn, "default", ids[0], ids[0], "steward")


SYSTEMS = ("salesforce", "tryton", "hubspot", "stripe", "zendesk")
field_values = st.builds(fv, st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5)),
                         st.sampled_from(SYSTEMS), st.integers(0, 50), st.booleans())
records = st.dictionaries(st.sampled_from(["name", "legal_name", "phone", "website", "lifecycle_state",
                                           "legal_address.city"]), field_values, max_size=6)
bound = st.dictionaries(st.sampled_from(SYSTEMS), st.text("abc123", min_size=1, max_size=5), max_size=3)


related = st.lists(st.tuples(st.sampled_from(["contact", "subscription", "entitlement", "account"]),
                             st.sampled_from(["left", "right"]), field_values), max_size=4)


@settings(max_examples=40)
@given(records, records, bound, bound, st.integers(1, 9), st.integers(1, 9), related)
def test_merge_then_unmerge_restores_records_bindings_and_keys_exactly(
        store: Engine, left: dict[str, FieldValue], right: dict[str, FieldValue], left_bound: dict[str, str],
        right_bound: dict[str, str], v1: int, v2: int, refs: list[tuple[str, str, FieldValue]]) -> None:
    n = next(_ids)
    a = GoldenRecord("default", "account", f"a{n}", v1, left)
    b = GoldenRecord("default", "account", f"b{n}", v2, right)
    with store.begin() as conn:
        _put(conn, a, {s: f"{n}-l-{e}" for s, e in left_bound.items()})
        _put(conn, b, {s: f"{n}-r-{e}" for s, e in right_bound.items()})
        for i, (entity, side, value) in enumerate(refs):  # records referring to either side of the merge
            path = "parent_account_id" if entity == "account" else "account_id"
            target = a.id if side == "left" else b.id
            ref = FieldValue(target, value.provenance, value.authoritative)
            _put(conn, GoldenRecord("default", entity, f"rel{n}-{i}", v1, {path: ref, "x": value}), {})
        before = _state(conn)
    with store.begin() as conn:
        result = merge(conn, "default", a.id, b.id, "prop")
        merged = _state(conn)
        assert merged["records"].keys() == before["records"].keys() - {b.id}
        assert not any(r[3]["f"].get(p, [None])[0] == b.id for r in merged["records"].values()
                       for p in ("account_id", "parent_account_id"))
        assert result.relinked == sum(side == "right" for _, side, _ in refs)
    with store.begin() as conn:
        unmerge(conn, result.merge_id, "prop")
        assert _state(conn) == before
