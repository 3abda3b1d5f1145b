"""`prepare.nul_field` screens a change's fields by encoding them once (decision 074) before walking them; it must
name the same path the walk names, for every document, or let a NUL through to PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from concord.ingest.models import ChangeCreate
from concord.ingest.prepare import nul_field
from concord.jsonguard import nul_path

# Text drawn often with NULs, backslashes and a literal "\u0000" (six characters, not a NUL) in it.
_chars = st.sampled_from(["a", "\x00", "\\", "u", "0", "é", "\n", '"'])
_text = st.text(alphabet=_chars, max_size=8) | st.just("\\u0000")
_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | _text
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                     | st.dictionaries(_text, inner, max_size=4), max_leaves=12)


def _change(fields: dict[str, Any]) -> ChangeCreate:
    change = ChangeCreate(system="salesforce", entity="account", external_id="001", fields={},
                          source_ts=datetime(2026, 1, 1, tzinfo=UTC), idempotency_key="k")
    change.fields = fields  # as a Python caller may hand it over: no JSON round trip in between
    return change


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text, _json, max_size=5))
def test_the_screen_names_what_the_walk_names(fields: dict[str, Any]) -> None:
    assert nul_field(_change(fields)) == nul_path(fields, "fields")


def test_values_orjson_cannot_encode_still_get_the_walk() -> None:
    assert nul_field(_change({"Amount": Decimal("1.5"), "Name": "a\x00b"})) == "fields.Name"
    assert nul_field(_change({"Amount": Decimal("1.5"), "Name": "ok"})) is None
    assert nul_field(_change({"nested": {1: "x\x00"}})) == "fields.nested.1"  # a key JSON text cannot hold
    assert nul_field(_change({"Name": "C:\\u0000"})) is None  # looks like an escape, is six characters
    assert nul_field(_change({"a\x00": 1})) == "fields.a\\u0000"
