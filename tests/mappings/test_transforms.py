"""Named transforms: each pair is inverse on the values it accepts, and refuses the rest with TransformError."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from concord.canonical.fields import normalize_values
from concord.mappings.transforms import Transform, TransformError, builtin_transforms
from tests.canonical.strategies import AMOUNT, CURRENCY, DAY, TAX_ID


def transform(name: str) -> Transform:
    return builtin_transforms()[name]


def test_builtin_names_and_docs() -> None:
    transforms = builtin_transforms()
    assert set(transforms) == {"number", "minor_units", "unix_date", "semicolon_list", "tax_ids_text",
                               "lowercase_code", "bool_text"}
    assert all(t.name == name and t.doc for name, t in transforms.items())


def amount_text(value: Decimal) -> str:
    return str(normalize_values("account", {"credit_limit": value})["credit_limit"])


@given(AMOUNT)
def test_number_round_trip(value: Decimal) -> None:
    number = transform("number")
    canonical = amount_text(value)
    native = number.to_native(canonical)
    assert isinstance(native, int | float)
    assert amount_text(Decimal(number.to_canonical(native))) == canonical


@pytest.mark.parametrize(("canonical", "native"), [("12.5", 12.5), ("100", 100), ("0", 0), ("0.01", 0.01)])
def test_number_examples(canonical: str, native: Any) -> None:
    number = transform("number")
    assert number.to_native(canonical) == native and type(number.to_native(canonical)) is type(native)
    assert number.to_canonical(native) == canonical
    assert number.to_canonical("12.50") == "12.5" and number.to_canonical(1e2) == "100"


@pytest.mark.parametrize("raw", ["twelve", "", "1,5", None])
def test_number_refuses_non_numbers(raw: Any) -> None:
    with pytest.raises(TransformError, match="not a number"):
        transform("number").to_canonical(raw)


@given(AMOUNT)
def test_minor_units_round_trip(value: Decimal) -> None:
    cents = transform("minor_units")
    canonical = amount_text(value)
    native = cents.to_native(canonical)
    assert isinstance(native, int) and native == int(value * 100)
    assert cents.to_canonical(native) == canonical


def test_minor_units_examples_and_errors() -> None:
    cents = transform("minor_units")
    assert cents.to_native("12.5") == 1250 and cents.to_canonical(1250) == "12.5"
    assert cents.to_native("0") == 0 and cents.to_canonical(7) == "0.07" and cents.to_canonical(100) == "1"
    for raw in ("1250", 12.5, None):
        with pytest.raises(TransformError, match="minor units must be an integer"):
            cents.to_canonical(raw)


@given(DAY)
def test_unix_date_round_trip(day: date) -> None:
    unix = transform("unix_date")
    native = unix.to_native(day.isoformat())
    assert isinstance(native, int) and native % 86_400 == 0
    assert unix.to_canonical(native) == day.isoformat()


def test_unix_date_examples_and_errors() -> None:
    unix = transform("unix_date")
    assert unix.to_native("2026-03-01") == 1_772_323_200
    assert unix.to_canonical(1_772_323_200 + 86_399) == "2026-03-01"  # any time of the day is that day (UTC)
    assert unix.to_canonical(1_772_323_200.5) == "2026-03-01"
    for raw in ("1772323200", None, "2026-03-01"):
        with pytest.raises(TransformError, match="unix time must be a number"):
            unix.to_canonical(raw)


@given(CURRENCY)
def test_lowercase_code_round_trip(code: str) -> None:
    lower = transform("lowercase_code")
    assert lower.to_native(code) == code.lower()
    assert lower.to_canonical(code.lower()) == code


@given(st.lists(TAX_ID, min_size=1, max_size=4))  # the empty list: see the xfail below
def test_tax_ids_text_round_trip(tax_ids: list[dict[str, Any]]) -> None:
    text = transform("tax_ids_text")
    canonical = normalize_values("account", {"tax_profile.tax_ids": tax_ids})["tax_profile.tax_ids"]
    native = text.to_native(canonical)
    assert isinstance(native, str)
    back = text.to_canonical(native)
    # The text form has no room for the country: it comes back empty, everything else is kept.
    assert back == [{**t, "country": None} for t in canonical]


def test_tax_ids_text_examples_and_errors() -> None:
    text = transform("tax_ids_text")
    assert text.to_native([{"type": "eu_vat", "value": "DE1"}, {"type": "gb_vat", "value": "GB2"}]) == \
        "eu_vat:DE1;gb_vat:GB2"
    assert text.to_native([]) == "" and text.to_native(None) == ""
    assert text.to_canonical("eu_vat:DE1") == [{"type": "eu_vat", "value": "DE1", "country": None}]
    with pytest.raises(TransformError, match="tax id must read TYPE:VALUE, got 'DE1'"):
        text.to_canonical("eu_vat:DE0;DE1")


def test_tax_ids_text_empty_round_trip() -> None:
    text = transform("tax_ids_text")
    assert text.to_canonical(text.to_native([])) == []


@given(st.booleans())
def test_bool_text_round_trip(flag: bool) -> None:
    text = transform("bool_text")
    assert text.to_native(flag) == ("true" if flag else "false")
    assert text.to_canonical(text.to_native(flag)) is flag


def test_bool_text_accepts_case_and_space_refuses_the_rest() -> None:
    text = transform("bool_text")
    assert text.to_canonical(" TRUE ") is True and text.to_canonical("False") is False
    for raw in ("yes", "1", "", None):
        with pytest.raises(TransformError, match="expected 'true' or 'false'"):
            text.to_canonical(raw)


@given(st.lists(st.text(st.characters(exclude_characters=";"), min_size=1, max_size=6), max_size=4))
def test_semicolon_list_round_trip(items: list[str]) -> None:
    joined = transform("semicolon_list")
    assert joined.to_canonical(joined.to_native(items)) == items
    assert joined.to_native(None) == "" and joined.to_canonical(None) == []
