"""Field catalog, value normalisation and the flat ↔ nested views of canonical entities."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.canonical.fields import (
    FieldValidationError,
    UnknownEntity,
    field_catalog,
    normalize_values,
    to_entity,
    unflatten,
)
from concord.canonical.models import ENTITY_TYPES, Account, Address
from tests.canonical.strategies import field_value, raw_strategy

ADDRESS_LEAVES = ["line1", "line2", "city", "region", "postal_code", "country"]


def test_account_catalog_flattens_nested_value_objects() -> None:
    paths = list(field_catalog("account"))
    for prefix in ("legal_address", "billing_address", "shipping_address"):
        assert [p for p in paths if p.startswith(f"{prefix}.")] == [f"{prefix}.{leaf}" for leaf in ADDRESS_LEAVES]
    assert [p for p in paths if p.startswith("tax_profile.")] == [
        "tax_profile.tax_ids", "tax_profile.exempt", "tax_profile.exemption_reason", "tax_profile.region"]
    assert {"name", "lifecycle_state", "credit_limit", "currency", "parent_account_id"} <= set(paths)
    assert "legal_address" not in paths and "tax_profile" not in paths


@pytest.mark.parametrize("entity", sorted(ENTITY_TYPES))
def test_catalog_has_every_leaf_and_no_schema_version(entity: str) -> None:
    catalog = field_catalog(entity)
    model = ENTITY_TYPES[entity]
    top_level = {name for name in model.model_fields if name != "schema_version"}
    assert {p.split(".")[0] for p in catalog} == top_level
    assert "schema_version" not in catalog
    assert all(spec.path == path for path, spec in catalog.items())


def test_catalog_of_other_entities() -> None:
    assert list(field_catalog("billing_account"))[-6:] == [f"invoice_address.{leaf}" for leaf in ADDRESS_LEAVES]
    assert set(field_catalog("contact")) == {"account_id", "first_name", "last_name", "email", "phone", "title",
                                             "role", "is_primary"}


def test_unknown_entity_names_the_known_ones() -> None:
    with pytest.raises(UnknownEntity, match=r"unknown entity 'lead'; known: account, billing_account, contact"):
        field_catalog("lead")
    with pytest.raises(KeyError):
        to_entity("lead", {})


def test_normalize_names_every_bad_field_at_once() -> None:
    bad = {"currency": "usd", "employee_count": -1, "nickname": "x", "name": "ok",
           "legal_address.country": "Germany", "credit_limit": "lots", "segment": "huge"}
    with pytest.raises(FieldValidationError) as info:
        normalize_values("account", bad)
    problems = {p.field: p.message for p in info.value.problems}
    assert set(problems) == {"currency", "employee_count", "nickname", "legal_address.country", "credit_limit",
                             "segment"}
    assert problems["nickname"] == "unknown field"
    assert "pattern" in problems["currency"] and "greater than or equal to 0" in problems["employee_count"]
    assert info.value.entity == "account"
    for name in problems:
        assert f"{name}: " in str(info.value)


def test_normalize_returns_json_mode_values() -> None:
    raw = {"annual_revenue": Decimal("1200.50"), "lifecycle_state": "active", "employee_count": "12",
           "tax_profile.tax_ids": [{"type": "eu_vat", "value": "DE123"}], "tax_profile.exempt": None}
    assert normalize_values("account", raw) == {
        "annual_revenue": "1200.5", "lifecycle_state": "active", "employee_count": 12,
        "tax_profile.tax_ids": [{"type": "eu_vat", "value": "DE123", "country": None}], "tax_profile.exempt": None}
    assert normalize_values("contract", {"start_date": date(2026, 1, 31)}) == {"start_date": "2026-01-31"}
    assert normalize_values("contact", {"email": "ann@example.com"}) == {"email": "ann@example.com"}


@pytest.mark.parametrize(("spelled", "normal"), [
    ("12.50", "12.5"), ("12.5", "12.5"), ("12", "12"), ("12.00", "12"), ("1E+2", "100"), ("100", "100"),
    ("0.10", "0.1"), ("0.000", "0"), (12.5, "12.5"), (7, "7"), ("1200000", "1200000"),
])
def test_decimals_have_one_spelling(spelled: object, normal: str) -> None:
    assert normalize_values("account", {"credit_limit": spelled}) == {"credit_limit": normal}


def test_negative_zero_is_zero() -> None:
    assert normalize_values("account", {"credit_limit": "-0.00"}) == {"credit_limit": "0"}


def test_normalize_strips_whitespace_like_the_model() -> None:
    assert Account(name="  Acme  ").name == "Acme"
    assert normalize_values("account", {"name": "  Acme  "}) == {"name": "Acme"}


@given(st.decimals(min_value=0, max_value=10**15, allow_nan=False, allow_infinity=False), st.integers(0, 4))
def test_trailing_zeros_never_matter(amount: Decimal, zeros: int) -> None:
    padded = f"{amount:f}" + ("." if "." not in f"{amount:f}" and zeros else "") + "0" * zeros
    once = normalize_values("contract", {"total_value": str(amount)})
    assert normalize_values("contract", {"total_value": padded}) == once
    assert normalize_values("contract", once) == once


@settings(deadline=None)  # draws inside the test: first-use set-up must not count as slowness
@given(st.data())
def test_normalisation_is_idempotent_for_every_field(data: st.DataObject) -> None:
    entity = data.draw(st.sampled_from(sorted(ENTITY_TYPES)))
    path = data.draw(st.sampled_from(sorted(field_catalog(entity))))
    value = data.draw(field_value(entity, path))
    assert normalize_values(entity, {path: value}) == {path: value}


@settings(deadline=None)
@given(st.data())
def test_normalisation_equals_pydantics_json_dump_for_every_field(data: st.DataObject) -> None:
    """`normalize_values` skips the dump of a validated str, int or bool (its own JSON form): the same result."""
    entity = data.draw(st.sampled_from(sorted(ENTITY_TYPES)))
    spec = data.draw(st.sampled_from(sorted(field_catalog(entity).values(), key=lambda s: s.path)))
    raw = data.draw(raw_strategy(spec))
    expected = spec.adapter.dump_python(spec.adapter.validate_python(raw), mode="json")
    got = normalize_values(entity, {spec.path: raw})[spec.path]
    assert got == expected and type(got) is type(expected)


def _serializers(schema: object) -> list[str]:
    if isinstance(schema, dict):
        found = ["serialization"] if "serialization" in schema else []
        return found + [k for v in schema.values() for k in _serializers(v)]
    if isinstance(schema, list):
        return [k for v in schema for k in _serializers(v)]
    return []


@pytest.mark.parametrize("entity", sorted(ENTITY_TYPES))
def test_no_canonical_field_has_a_serializer(entity: str) -> None:
    """What lets `normalize_values` keep a validated str, int or bool as it is: a field serializer would make
    its JSON form differ. Add one and `normalize_values` must dump such values again."""
    for spec in field_catalog(entity).values():
        assert _serializers(spec.adapter.core_schema) == [], spec.path


def test_every_catalog_field_has_a_test_strategy() -> None:
    for entity in ENTITY_TYPES:
        for spec in field_catalog(entity).values():
            raw_strategy(spec)


def test_unflatten_and_to_entity() -> None:
    flat = {"name": "Acme", "billing_address.city": "Berlin", "billing_address.country": "DE",
            "tax_profile.exempt": True}
    assert unflatten(flat) == {"name": "Acme", "billing_address": {"city": "Berlin", "country": "DE"},
                               "tax_profile": {"exempt": True}}
    account = to_entity("account", flat)
    assert isinstance(account, Account)
    assert account.billing_address == Address(city="Berlin", country="DE")
    assert account.tax_profile.exempt is True and account.schema_version == 1


def test_to_entity_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="nickname"):
        to_entity("account", {"nickname": "x"})
