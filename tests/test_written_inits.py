"""The hot-path dataclasses write their __init__ out (decision 091): each must stay the constructor the
dataclass decorator would have made — same parameters in field order, same defaults, a fresh container per
instance where the field has a factory — or a field added later would silently never be set."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
from concord.events.derive import DerivedEvent
from concord.ingest.binder import Hold
from concord.ingest.models import ChangeCreate
from concord.ingest.prepare import PreparedChange
from concord.mappings.mapper import InboundResult
from concord.ownership.gate import FieldRejection, GateDecision, PendingApproval

PROV = Provenance("crm", 1, "chg-1")
# Every field given, each a distinct value of its declared type (compiled classes check types on assignment).
SAMPLES: dict[type, dict[str, Any]] = {
    Provenance: {"system": "crm", "source_ts_us": 7, "change_id": "chg-1", "mapping_version": "crm/account@2",
                 "approved_by": "ann"},
    FieldValue: {"value": "Acme", "provenance": PROV, "authoritative": True},
    GoldenRecord: {"tenant": "t1", "entity": "account", "id": "cus-1", "version": 3,
                   "fields": {"name": FieldValue("Acme", PROV, True)}, "echo_marks": {"erp": {"name": ["d1"]}},
                   "creating": ["erp"], "synced": {"crm": 1.5}, "reported": {"crm": {"t": 1, "d": {}}}},
    FieldRejection: {"field": "name", "value": "X", "owner": "erp", "reason": "owner_only"},
    PendingApproval: {"field": "name", "value": "X", "current": "Y", "owner": "erp", "system": "crm",
                      "source_ts_us": 9},
    GateDecision: {"applied": {"a": 1}, "previous": {"a": 0}, "refreshed": ["r"],
                   "rejected": [FieldRejection("f", 1, "erp", "owner_only")], "pending": [], "stale": ["s"],
                   "echoes": ["e"], "unchanged": ["u"]},
    InboundResult: {"values": {"name": "Acme"}, "references": {"parent_id": ("account", "001")}},
    PreparedChange: {"request": ChangeCreate(system="salesforce", entity="account", external_id="001",
                                             fields={"Name": "Acme"}, source_ts=datetime(2026, 1, 1, tzinfo=UTC),
                                             idempotency_key="k-1"),
                     "change_id": "chg-2", "correlation_id": "cor-1", "source_ts_us": 11,
                     "values": {"name": "Acme"}, "references": {}, "mapping_version": "sf/account@1",
                     "approved_by": "ann"},
    Hold: {"review_id": "rev-1", "candidate": "cus-9"},
    DerivedEvent: {"type": "CustomerCreated", "data": {"canonical_id": "cus-1"}},
}
WRITTEN = list(SAMPLES)


def _init_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_the_written_init_takes_the_fields_in_order_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls).parameters.values())
    fields = _init_fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f"{f.name}: None stands for the factory's value"
        else:
            assert p.default is inspect.Parameter.empty, f.name


@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_every_argument_lands_on_its_field(cls: type) -> None:
    fields = _init_fields(cls)
    given = SAMPLES[cls]
    assert set(given) == {f.name for f in fields}, "the sample names every field"
    by_keyword = cls(**given)
    assert all(getattr(by_keyword, f.name) is given[f.name] for f in fields)
    positional = cls(*[given[f.name] for f in fields])
    assert all(getattr(positional, f.name) is given[f.name] for f in fields)


@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_every_field_is_set_by_the_constructor(cls: type) -> None:
    """Fields with init=False included: a derived field the written __init__ forgot would only fail when read."""
    obj = cls(**SAMPLES[cls])
    missing = [f.name for f in dataclasses.fields(cls) if not hasattr(obj, f.name)]
    assert missing == []


@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_omitted_fields_take_their_defaults_and_factories_are_not_shared(cls: type) -> None:
    fields = _init_fields(cls)
    required = {f.name: SAMPLES[cls][f.name] for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    one, two = cls(**required), cls(**required)
    for f in fields:
        if f.default is not dataclasses.MISSING:
            assert getattr(one, f.name) == f.default
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(one, f.name) == f.default_factory()
            assert getattr(one, f.name) is not getattr(two, f.name), f"{f.name} shared between instances"
    assert one == two


@pytest.mark.parametrize("cls", WRITTEN, ids=lambda c: c.__name__)
def test_replace_copy_and_pickle_still_work(cls: type) -> None:
    obj = cls(**SAMPLES[cls])
    last = _init_fields(cls)[-1].name
    changed = dataclasses.replace(obj, **{last: SAMPLES[cls][last]})
    assert changed == obj and changed is not obj
    every = [f.name for f in dataclasses.fields(cls)]  # init=False ones too: they are not compared by ==
    for again in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj), changed):
        assert again == obj
        assert [getattr(again, name) for name in every] == [getattr(obj, name) for name in every]


@pytest.mark.parametrize("cls", [c for c in WRITTEN if c.__dataclass_params__.frozen],  # type: ignore[attr-defined]
                         ids=lambda c: c.__name__)
def test_frozen_ones_stay_frozen(cls: type) -> None:
    obj = cls(**SAMPLES[cls])
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, SAMPLES[cls][name])


def test_a_prepared_change_carries_its_requests_addressing() -> None:
    prepared = PreparedChange(**SAMPLES[PreparedChange])
    request = prepared.request
    copied = [f.name for f in dataclasses.fields(PreparedChange) if not f.init]
    assert copied == ["tenant", "system", "entity", "external_id", "idempotency_key", "canonical_id"]
    assert {name: getattr(prepared, name) for name in copied} == {name: getattr(request, name) for name in copied}
    approved = dataclasses.replace(prepared, approved_by="bob")
    assert approved.system == "salesforce" and approved.approved_by == "bob"
