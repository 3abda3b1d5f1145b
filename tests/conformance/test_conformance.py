"""The one suite every connector passes: the Connector protocol's promises, against a live system."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from concord.connectors.base import Capabilities, Connector, DataRejected, ExternalRecord
from tests.conformance.target import ConformanceTarget

_seq = itertools.count(1)


def _assert_contains(target: ConformanceTarget, sent: dict[str, Any], record: ExternalRecord) -> None:
    if target.read_back is not None:
        target.read_back(sent, record.fields)
        return
    for key, value in sent.items():
        assert record.fields.get(key) == value, f"{key}: sent {value!r}, read {record.fields.get(key)!r}"


def test_declares_capabilities_as_data(target: ConformanceTarget, connector: Connector) -> None:
    assert isinstance(connector, Connector)
    assert isinstance(connector.capabilities, Capabilities)
    assert target.obj in connector.capabilities.objects
    assert connector.capabilities.upsert_by_external_id == (target.external_id_field is not None)


def test_create_then_read(target: ConformanceTarget, connector: Connector) -> None:
    payload = target.valid(next(_seq))
    created = connector.create(target.obj, payload, idempotency_key=f"conf-{target.name}-{next(_seq)}")
    assert created.id and created.object == target.obj
    read = connector.read(target.obj, created.id)
    assert read is not None and read.id == created.id
    _assert_contains(target, payload, read)


def test_update_changes_only_what_was_sent(target: ConformanceTarget, connector: Connector) -> None:
    payload = target.valid(next(_seq))
    created = connector.create(target.obj, payload, idempotency_key=f"conf-{target.name}-{next(_seq)}")
    connector.update(target.obj, created.id, target.update)
    read = connector.read(target.obj, created.id)
    assert read is not None
    _assert_contains(target, {**payload, **target.update}, read)


def test_search_finds_the_record(target: ConformanceTarget, connector: Connector) -> None:
    payload = target.valid(next(_seq))
    created = connector.create(target.obj, payload, idempotency_key=f"conf-{target.name}-{next(_seq)}")
    found = connector.search(target.obj, target.search(payload))
    assert [r.id for r in found] == [created.id]


def test_repeated_idempotency_key_creates_once(target: ConformanceTarget, connector: Connector) -> None:
    payload = target.valid(next(_seq))
    key = f"conf-{target.name}-once-{next(_seq)}"
    first = connector.create(target.obj, payload, idempotency_key=key)
    second = connector.create(target.obj, payload, idempotency_key=key)
    assert first.id == second.id
    assert [r.id for r in connector.search(target.obj, target.search(payload))] == [first.id]


def test_upsert_by_external_id_is_idempotent(target: ConformanceTarget, connector: Connector) -> None:
    assert target.external_id_field is not None  # conftest parametrizes this test with upsert targets only
    payload = target.valid(next(_seq))
    external_id = str(payload[target.external_id_field])
    first = connector.upsert(target.obj, target.external_id_field, external_id, payload)
    second = connector.upsert(target.obj, target.external_id_field, external_id, {**payload, **target.update})
    assert first.id == second.id
    read = connector.read(target.obj, first.id)
    assert read is not None
    _assert_contains(target, {**payload, **target.update}, read)


def test_invalid_data_is_rejected_with_the_field(target: ConformanceTarget, connector: Connector) -> None:
    with pytest.raises(DataRejected) as caught:
        connector.create(target.obj, target.invalid, idempotency_key=f"conf-{target.name}-bad-{next(_seq)}")
    assert caught.value.system == connector.name and caught.value.message
    if target.invalid_field is not None:
        assert caught.value.field == target.invalid_field


def test_read_of_unknown_id_is_none(target: ConformanceTarget, connector: Connector) -> None:
    payload = target.valid(next(_seq))
    created = connector.create(target.obj, payload, idempotency_key=f"conf-{target.name}-{next(_seq)}")
    unknown = created.id[:-3] + ("zzz" if not created.id[-3:].isdigit() else "999")
    if unknown != created.id:
        assert connector.read(target.obj, unknown) is None


def test_changes_since_pages_through_new_records(target: ConformanceTarget, connector: Connector) -> None:
    page = connector.changes_since(target.obj, None)
    cursor = page.cursor
    while page.has_more:
        page = connector.changes_since(target.obj, cursor)
        cursor = page.cursor
    created = [connector.create(target.obj, target.valid(next(_seq)),
                                idempotency_key=f"conf-{target.name}-{next(_seq)}") for _ in range(3)]
    seen: set[str] = set()
    for _ in range(20):
        page = connector.changes_since(target.obj, cursor)
        seen.update(r.id for r in page.records)
        cursor = page.cursor or cursor
        if not page.has_more:
            break
    assert {c.id for c in created} <= seen
