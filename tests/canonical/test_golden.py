"""The golden record: timestamps, digests, serialisation and the echo memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from concord.canonical.golden import (
    ECHO_MEMORY,
    FieldValue,
    GoldenRecord,
    Provenance,
    ts_to_us,
    us_to_ts,
    value_digest,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=3), max_leaves=8)


def test_timestamps_are_microseconds_since_epoch() -> None:
    assert ts_to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert ts_to_us(T0 + timedelta(microseconds=7)) == ts_to_us(T0) + 7
    assert ts_to_us(datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))) == ts_to_us(T0)
    assert ts_to_us(datetime(2026, 3, 1, 12, 0)) == ts_to_us(T0)  # naive means UTC


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_timestamp_round_trip(ts: datetime) -> None:
    assert us_to_ts(ts_to_us(ts)) == ts


def test_timestamp_round_trip_far_future() -> None:
    ts = datetime(2300, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert us_to_ts(ts_to_us(ts)) == ts


@given(st.dictionaries(st.text(max_size=5), JSON, max_size=5))
def test_digest_ignores_key_order(value: dict[str, object]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert value_digest(reordered) == value_digest(value)
    assert len(value_digest(value)) == 12


def test_digest_distinguishes_types_and_values() -> None:
    digests = {value_digest(v) for v in ["1", 1, 1.5, True, None, [1], {"a": 1}, "1.0"]}
    assert len(digests) == 8


def test_record_json_round_trip() -> None:
    prov = Provenance("tryton", 1_700_000_000_000_000, "ch-1", "tryton/account@1", approved_by="ann")
    record = GoldenRecord("default", "account", "cus_1", version=3,
                          fields={"legal_name": FieldValue("Acme GmbH", prov, True),
                                  "tax_profile.tax_ids": FieldValue([{"type": "eu_vat", "value": "DE1"}], prov,
                                                                    False)},
                          creating=["zendesk"])
    record.remember_push("salesforce", "legal_name", "Acme GmbH")
    raw = orjson.loads(orjson.dumps(record.to_json()))
    again = GoldenRecord.from_json("default", "account", "cus_1", 3, raw)
    assert again == record
    assert again.values() == {"legal_name": "Acme GmbH", "tax_profile.tax_ids": [{"type": "eu_vat", "value": "DE1"}]}
    assert again.value("legal_name") == "Acme GmbH" and again.value("name") is None
    bare = Provenance("x", 1, "c")
    assert Provenance.from_json(orjson.loads(orjson.dumps(bare.to_json()))) == bare


def test_echo_memory_keeps_the_latest_pushes() -> None:
    record = GoldenRecord("default", "account", "cus_1")
    for i in range(ECHO_MEMORY + 2):
        record.remember_push("salesforce", "name", f"v{i}")
    assert not record.is_echo("salesforce", "name", "v0") and not record.is_echo("salesforce", "name", "v1")
    assert all(record.is_echo("salesforce", "name", f"v{i}") for i in range(2, ECHO_MEMORY + 2))
    assert not record.is_echo("zendesk", "name", "v3") and not record.is_echo("salesforce", "phone", "v3")


def test_pushing_a_value_again_refreshes_it() -> None:
    record = GoldenRecord("default", "account", "cus_1")
    record.remember_push("salesforce", "name", "a")
    for i in range(ECHO_MEMORY - 1):
        record.remember_push("salesforce", "name", f"v{i}")
    record.remember_push("salesforce", "name", "a")  # moves to the newest slot instead of duplicating
    record.remember_push("salesforce", "name", "b")
    assert record.is_echo("salesforce", "name", "a")
    assert len(record.echo_marks["salesforce"]["name"]) == ECHO_MEMORY


def test_forget_echo_consumes_one_mark() -> None:
    record = GoldenRecord("default", "account", "cus_1")
    record.remember_push("salesforce", "name", "a")
    record.forget_echo("salesforce", "name", "a")
    record.forget_echo("salesforce", "name", "a")  # already gone: no error
    record.forget_echo("hubspot", "name", "a")
    assert not record.is_echo("salesforce", "name", "a")


def test_memoised_digests_match_the_plain_digest() -> None:
    """value_digest memoises short strings and integers (decision 074): never at the cost of a wrong digest."""
    from concord.canonical.golden import _digest, value_digest

    values: list[object] = [True, 1, False, 0, "1", "true", 0.0, -0.0, 1.0, None, "x" * 500, {"a": 1}, [1, "1"]]
    for value in values * 2:  # the second pass answers from the memo
        assert value_digest(value) == _digest(value)  # type: ignore[arg-type]
    assert len({value_digest(v) for v in (True, 1, "1", 1.0)}) == 4  # type: ignore[arg-type]
