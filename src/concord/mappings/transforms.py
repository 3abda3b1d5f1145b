"""Named value transforms: the typed escape hatch of the declarative mappings (no code in strings).

Each transform is a pair of pure functions that must be inverse on the values it accepts, so every mapping
round-trips canonical → system → canonical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from concord.canonical.fields import JsonValue
from concord.canonical.models import normalize_decimal


class TransformError(ValueError):
    pass


@dataclass(frozen=True)
class Transform:
    name: str
    to_native: Callable[[JsonValue], Any]
    to_canonical: Callable[[Any], JsonValue]
    doc: str


def _decimal(raw: Any) -> Decimal:
    try:
        return Decimal(str(raw))
    except InvalidOperation as exc:
        raise TransformError(f"not a number: {raw!r}") from exc


def _number_out(value: JsonValue) -> Any:
    d = _decimal(value)
    return int(d) if d == d.to_integral_value() else float(d)


def _number_in(raw: Any) -> JsonValue:
    return format(normalize_decimal(_decimal(raw)), "f")


def _cents_out(value: JsonValue) -> Any:
    return int((_decimal(value) * 100).to_integral_value())


def _cents_in(raw: Any) -> JsonValue:
    if not isinstance(raw, int):
        raise TransformError(f"minor units must be an integer, got {raw!r}")
    return format(normalize_decimal(Decimal(raw) / 100), "f")


def _unix_out(value: JsonValue) -> Any:
    day = date.fromisoformat(str(value))
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _unix_in(raw: Any) -> JsonValue:
    if not isinstance(raw, int | float):
        raise TransformError(f"unix time must be a number, got {raw!r}")
    return datetime.fromtimestamp(raw, tz=UTC).date().isoformat()


def _joined_out(value: JsonValue) -> Any:
    return ";".join(str(v) for v in value) if value else ""


def _joined_in(raw: Any) -> JsonValue:
    return [part for part in str(raw).split(";") if part] if raw else []


def _tax_ids_out(value: JsonValue) -> Any:
    # A single "TYPE:VALUE" text field, as CRMs without a tax-id object hold it.
    return ";".join(f"{t['type']}:{t['value']}" for t in value) if value else ""


def _tax_ids_in(raw: Any) -> JsonValue:
    if not raw:
        return []  # the empty text `_tax_ids_out` writes for an empty list
    out = []
    for part in str(raw or "").split(";"):
        kind, sep, val = part.partition(":")
        if not sep:
            raise TransformError(f"tax id must read TYPE:VALUE, got {part!r}")
        out.append({"type": kind, "value": val, "country": None})
    return out


def _bool_text_out(value: JsonValue) -> Any:
    return "true" if value else "false"


def _bool_text_in(raw: Any) -> JsonValue:
    text = str(raw).strip().lower()
    if text not in {"true", "false"}:
        raise TransformError(f"expected 'true' or 'false', got {raw!r}")
    return text == "true"


def _lower_out(value: JsonValue) -> Any:
    return str(value).lower()


def _upper_in(raw: Any) -> JsonValue:
    return str(raw).upper()


def builtin_transforms() -> dict[str, Transform]:
    items = [
        Transform("number", _number_out, _number_in, "decimal string ↔ JSON number"),
        Transform("minor_units", _cents_out, _cents_in, "decimal amount ↔ integer cents (Stripe)"),
        Transform("unix_date", _unix_out, _unix_in, "ISO date ↔ unix seconds at UTC midnight"),
        Transform("semicolon_list", _joined_out, _joined_in, "list of strings ↔ 'a;b;c'"),
        Transform("tax_ids_text", _tax_ids_out, _tax_ids_in, "tax id list ↔ 'eu_vat:DE1;gb_vat:GB2'"),
        Transform("lowercase_code", _lower_out, _upper_in, "'USD' ↔ 'usd' (Stripe currencies)"),
        Transform("bool_text", _bool_text_out, _bool_text_in, "bool ↔ 'true'/'false' (HubSpot properties)"),
    ]
    return {t.name: t for t in items}
