"""Hypothesis strategies for canonical field values, derived from the field catalog's annotations.

Values are drawn in the shape a system would submit and then go through `normalize_values`, so tests compare
the JSON-mode spelling the core itself stores.
"""

from __future__ import annotations

import types
import typing
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache, partial
from typing import Any

from hypothesis import strategies as st
from pydantic import EmailStr

from concord.canonical.fields import FieldSpec, JsonValue, field_catalog, normalize_values
from concord.canonical.models import TaxId, TaxIdType

# Printable text without surrogates or control characters: what a person types into a CRM field.
# Canonical strings are stored stripped (the models strip whitespace), so generate what survives stripping.
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=24).map(str.strip).filter(bool)
CANONICAL_ID = st.from_regex(r"cus_[0-9a-f]{4,10}", fullmatch=True)
# Up to two decimal places and twelve integer digits: amounts as ERP, CRM and billing systems hold them
# (the `number` transform goes through a binary float, exact for up to 15 significant digits).
AMOUNT = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2, allow_nan=False,
                     allow_infinity=False)
DAY = st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 12, 31))
EMAIL = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_]{1,5})?@[a-z][a-z0-9]{1,10}\.(com|de|example|io)",
                      fullmatch=True)
COUNTRY = st.from_regex(r"[A-Z]{2}", fullmatch=True)
CURRENCY = st.from_regex(r"[A-Z]{3}", fullmatch=True)
TAX_ID = st.builds(lambda kind, value, country: {"type": kind, "value": value, "country": country},
                   st.sampled_from([t.value for t in TaxIdType]),
                   st.from_regex(r"[A-Z0-9]{2,20}", fullmatch=True), st.none() | COUNTRY)


def _base(annotation: Any) -> Any:
    """`X | None` → X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_amount(base: Any) -> bool:
    return typing.get_origin(base) is typing.Annotated and typing.get_args(base)[0] is Decimal


def _string_strategy(path: str) -> st.SearchStrategy[Any]:
    leaf = path.rsplit(".", 1)[-1]
    if leaf == "country":
        return COUNTRY
    if leaf == "currency":
        return CURRENCY
    if leaf.endswith("_id"):
        return CANONICAL_ID
    return TEXT


def raw_strategy(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Non-null raw values accepted by the field's validator."""
    base = _base(spec.annotation)
    if isinstance(base, type) and issubclass(base, StrEnum):
        return st.sampled_from([member.value for member in base])
    if _is_amount(base):
        return AMOUNT
    if base is EmailStr:
        return EMAIL
    strategies: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(), int: st.integers(min_value=0, max_value=10**7), date: DAY,
        list[TaxId]: st.lists(TAX_ID, max_size=3),
    }
    if base in strategies:
        return strategies[base]
    if base is str:
        return _string_strategy(spec.path)
    raise LookupError(f"no strategy for {spec.path}: {spec.annotation!r}")


def _normalise(entity: str, path: str, raw: Any) -> JsonValue:
    return normalize_values(entity, {path: raw})[path]


@cache
def field_value(entity: str, path: str, nullable: bool = True) -> st.SearchStrategy[JsonValue]:
    """A normalised (JSON-mode) value of `entity.path`; None sometimes when `nullable`."""
    raw = raw_strategy(field_catalog(entity)[path])
    normalised = raw.map(partial(_normalise, entity, path))
    return (st.none() | normalised) if nullable else normalised
