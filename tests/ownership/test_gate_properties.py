"""Property tests of the ownership gate: ownership, idempotence, order independence, staleness, echoes,
approvals and lifecycle guarding, over generated sequences of changes from several systems."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.canonical.lifecycle import ALLOWED_TRANSITIONS, IllegalTransition, LifecycleState
from concord.ownership.gate import IncomingChange, PendingApproval, evaluate
from concord.ownership.policy import OwnershipMode
from tests.ownership.policies import (
    FIELD_RULES,
    FIELDS,
    SYSTEMS,
    VALUES,
    apply_all,
    change_sequences,
    empty_record,
    incoming,
    rule,
    rules,
)

Snapshot = dict[str, tuple[JsonValue, str, int, str, bool]]


def snapshot(record: GoldenRecord) -> Snapshot:
    """Every field's value and provenance: what 'the same golden record' means in these tests."""
    return {path: (fv.value, fv.provenance.system, fv.provenance.source_ts_us, fv.provenance.change_id,
                   fv.authoritative) for path, fv in record.fields.items()}


def oracle(changes: list[IncomingChange]) -> Snapshot:
    """The golden record as the ownership rules define it, computed without the gate: per field, the latest
    owner write; for fill_if_empty fields, the latest non-owner write until the owner has written."""
    expected: Snapshot = {}
    for path, (owner, mode) in FIELD_RULES.items():
        writes = [c for c in changes if path in c.values and (c.system == owner or mode is OwnershipMode.FILL_IF_EMPTY)]
        if writes:
            win = max(writes, key=lambda c: (c.system == owner, c.source_ts_us))
            expected[path] = (win.values[path], win.system, win.source_ts_us, win.change_id, win.system == owner)
    return expected


@given(change_sequences(max_size=8))
def test_golden_record_matches_the_ownership_oracle(changes: list[IncomingChange]) -> None:
    record, _ = apply_all(changes)
    assert snapshot(record) == oracle(changes)


@given(change_sequences(max_size=8))
def test_non_owner_never_overwrites_an_owner_only_field(changes: list[IncomingChange]) -> None:
    record = empty_record()
    for change in changes:
        before = copy.deepcopy(record)
        given_record = record
        record, decision = evaluate(given_record, change, rules())
        assert given_record == before  # evaluate leaves its input alone
        for path in change.values:
            owner, mode = FIELD_RULES[path]
            if mode is OwnershipMode.OWNER_ONLY and change.system != owner:
                assert record.fields.get(path) == before.fields.get(path)
                assert path not in decision.applied and path not in decision.refreshed
                rejected = [r.field for r in decision.rejected]
                assert (path in rejected) != (path in decision.unchanged)
    for path, (owner, mode) in FIELD_RULES.items():
        if mode is OwnershipMode.OWNER_ONLY and path in record.fields:
            assert record.fields[path].provenance.system == owner and record.fields[path].authoritative


@settings(deadline=None)  # draws inside the test: first-use set-up must not count as slowness
@given(change_sequences(max_size=6), st.data())
def test_applying_a_change_twice_equals_applying_it_once(changes: list[IncomingChange], data: st.DataObject) -> None:
    prefix, change = changes[:-1], changes[-1]
    again = data.draw(st.sampled_from(changes))  # a replay of any earlier change, too
    once, _ = apply_all([*prefix, change])
    twice, decisions = apply_all([*prefix, change, change])
    assert snapshot(twice) == snapshot(once)
    assert not decisions[-1].writes_record
    assert decisions[-1].applied == {} and decisions[-1].refreshed == []
    replayed, _ = apply_all([*changes, again])
    assert snapshot(replayed) == snapshot(once)


@settings(deadline=None)  # draws inside the test: first-use set-up must not count as slowness
@given(change_sequences(max_size=6), st.data())
def test_every_arrival_order_yields_the_same_record(changes: list[IncomingChange], data: st.DataObject) -> None:
    reordered = data.draw(st.permutations(changes))
    first, _ = apply_all(changes)
    second, _ = apply_all(reordered)
    assert snapshot(second) == snapshot(first)


def test_all_orders_of_a_mixed_sequence_agree() -> None:
    changes = [incoming("crm", 30, {"name": "n-crm", "phone": "p-crm", "industry": "i-crm"}),
               incoming("erp", 10, {"phone": "p-erp", "legal_name": "l-erp", "name": "n-erp"}),
               incoming("support", 40, {"domain": "d-sup", "website": "w-sup"}),
               incoming("erp", 20, {"domain": "d-erp", "legal_name": "l-erp2"}),
               incoming("billing", 5, {"website": "w-bil", "phone": "p-bil"})]
    results = {tuple(sorted(snapshot(apply_all(list(order))[0]).items())) for order in itertools.permutations(changes)}
    assert len(results) == 1
    final = dict(next(iter(results)))
    assert {p: v[0] for p, v in final.items()} == {"name": "n-crm", "phone": "p-crm", "industry": "i-crm",
                                                   "legal_name": "l-erp2", "domain": "d-erp", "website": "w-bil"}


@given(change_sequences(max_size=8))
def test_older_updates_never_overwrite_newer_values(changes: list[IncomingChange]) -> None:
    record = empty_record()
    for change in changes:
        before = record
        record, decision = evaluate(record, change, rules())
        for path in change.values:
            old, new = before.fields.get(path), record.fields.get(path)
            if old is None:
                continue
            # A field only ever moves to a newer source time, or from a non-owner's fill to the owner's value.
            assert new is not None and (new.authoritative, new.provenance.source_ts_us) >= (
                old.authoritative, old.provenance.source_ts_us)
            same_authority = old.authoritative == (change.system == FIELD_RULES[path][0])
            if same_authority and change.source_ts_us < old.provenance.source_ts_us:
                assert new == old
                assert path in decision.stale or path in decision.unchanged


def test_stale_owner_update_is_reported_and_kept_out() -> None:
    record, _ = apply_all([incoming("erp", 20, {"legal_name": "new"})])
    after, decision = evaluate(record, incoming("erp", 10, {"legal_name": "old"}), rules())
    assert decision.stale == ["legal_name"] and decision.applied == {}
    assert after.value("legal_name") == "new" and after.fields["legal_name"].provenance.source_ts_us == 20
    _, same = evaluate(record, incoming("erp", 10, {"legal_name": "new"}), rules())
    assert same.unchanged == ["legal_name"] and same.stale == []


def test_owner_replaces_a_fill_even_when_older() -> None:
    # fill_if_empty: a non-owner value holds only until the owner has spoken, whatever the clocks say.
    record, _ = apply_all([incoming("support", 50, {"phone": "from-support"}),
                           incoming("crm", 10, {"phone": "from-crm"})])
    assert record.value("phone") == "from-crm" and record.fields["phone"].authoritative
    later, decision = evaluate(record, incoming("support", 90, {"phone": "again"}), rules())
    assert decision.stale == ["phone"] and later.value("phone") == "from-crm"


@given(st.sampled_from(FIELDS), st.sampled_from(SYSTEMS), VALUES, VALUES, st.integers(1, 100))
def test_pushed_value_coming_back_is_an_echo(path: str, system: str, held: JsonValue, pushed: JsonValue,
                                             ts: int) -> None:
    owner, _ = FIELD_RULES[path]
    if system == owner:
        system = "support" if owner != "support" else "erp"
    record, _ = apply_all([incoming(owner, 50, {path: held})])
    record.remember_push(system, path, pushed)
    after, decision = evaluate(record, incoming(system, ts, {path: pushed}), rules())
    assert decision.echoes == [path]
    assert decision.rejected == [] and decision.pending == [] and decision.applied == {}
    assert snapshot(after) == snapshot(record)
    assert not after.is_echo(system, path, pushed)  # consumed: the next identical write is a real one
    assert record.is_echo(system, path, pushed)  # the input record is untouched


@given(st.sampled_from([p for p, (_, m) in FIELD_RULES.items() if m is not OwnershipMode.FILL_IF_EMPTY]))
def test_value_other_than_the_pushed_one_is_not_an_echo(path: str) -> None:
    owner, mode = FIELD_RULES[path]
    record, _ = apply_all([incoming(owner, 50, {path: "held"})])
    record.remember_push("support", path, "held")
    _, decision = evaluate(record, incoming("support", 60, {path: "typed by a user"}), rules())
    assert decision.echoes == []
    if mode is OwnershipMode.OWNER_ONLY:
        assert [r.field for r in decision.rejected] == [path]
    else:
        assert [p.field for p in decision.pending] == [path]


@given(change_sequences(max_size=8))
def test_non_owner_writes_to_approval_fields_await_a_steward(changes: list[IncomingChange]) -> None:
    record = empty_record()
    for change in changes:
        before = record
        record, decision = evaluate(record, change, rules())
        expected = []
        for path, value in change.values.items():
            owner, mode = FIELD_RULES[path]
            if mode is OwnershipMode.APPROVAL and change.system != owner:
                current = before.value(path)
                assert record.fields.get(path) == before.fields.get(path)
                if current == value:  # an empty field reported empty proposes nothing either
                    assert path in decision.unchanged
                else:
                    expected.append(PendingApproval(path, value, current, owner, change.system, change.source_ts_us))
        assert decision.pending == expected


def test_approved_value_applies_as_authoritative() -> None:
    record, _ = apply_all([incoming("crm", 10, {"industry": "Retail"})])
    proposal = incoming("support", 20, {"industry": "Software"})
    _, pending = evaluate(record, proposal, rules())
    assert pending.pending == [PendingApproval("industry", "Software", "Retail", "crm", "support", 20)]
    approved = incoming("support", 20, {"industry": "Software"}, approved_by="ann")
    after, decision = evaluate(record, approved, rules())
    assert decision.applied == {"industry": "Software"} and decision.previous == {"industry": "Retail"}
    fv = after.fields["industry"]
    assert fv.authoritative and fv.provenance.approved_by == "ann" and fv.provenance.system == "support"


def test_owner_write_to_approval_field_applies_directly() -> None:
    assert rule("website").mode is OwnershipMode.APPROVAL
    after, decision = evaluate(empty_record(), incoming("billing", 5, {"website": "https://a.example"}), rules())
    assert decision.applied == {"website": "https://a.example"} and decision.pending == []
    assert after.fields["website"].authoritative


ALL_PAIRS = list(itertools.product(LifecycleState, LifecycleState))


@given(st.sampled_from(ALL_PAIRS), st.integers(11, 100))
def test_illegal_lifecycle_transition_applies_nothing(pair: tuple[LifecycleState, LifecycleState], ts: int) -> None:
    current, target = pair
    record, _ = apply_all([incoming("concord", 10, {"lifecycle_state": current.value, "sales_owner": "old"})])
    before = copy.deepcopy(record)
    change = incoming("concord", ts, {"sales_owner": "new", "lifecycle_state": target.value})
    if current == target or target in ALLOWED_TRANSITIONS[current]:
        after, _ = evaluate(record, change, rules())
        assert after.value("lifecycle_state") == target.value and after.value("sales_owner") == "new"
        return
    with pytest.raises(IllegalTransition) as info:
        evaluate(record, change, rules())
    assert (info.value.current, info.value.target) == (current, target)
    assert record == before


def test_stale_lifecycle_update_is_not_a_transition() -> None:
    record, _ = apply_all([incoming("concord", 20, {"lifecycle_state": "closed"})])
    after, decision = evaluate(record, incoming("concord", 10, {"lifecycle_state": "active"}), rules())
    assert decision.stale == ["lifecycle_state"] and after.value("lifecycle_state") == "closed"


def test_non_owner_lifecycle_write_is_rejected_before_any_transition_check() -> None:
    record, _ = apply_all([incoming("concord", 20, {"lifecycle_state": "closed"})])
    _, decision = evaluate(record, incoming("crm", 30, {"lifecycle_state": "active"}), rules())
    assert [r.field for r in decision.rejected] == ["lifecycle_state"]


def test_clearing_lifecycle_state_is_decided_not_crashed() -> None:
    record, _ = apply_all([incoming("concord", 10, {"lifecycle_state": "active"})])
    try:
        after, _ = evaluate(record, incoming("concord", 20, {"lifecycle_state": None}), rules())
    except IllegalTransition:
        return
    assert after.value("lifecycle_state") is None
