"""Property values: HubSpot stores every value as a string, normalised by the property's type.

Writes are validated the way HubSpot does (unknown options, non-numbers, bad dates and e-mail addresses are
refused with per-property error codes); reads compare values by type so search filters and sorts on
numbers and dates order numerically rather than as text.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from concord.sandbox.hubspot.catalog import PropertyDefinition
from concord.sandbox.hubspot.errors import PropertyProblem
from concord.sandbox.hubspot.timefmt import date_from_ms, iso_from_ms, ms_from_text

PropValue = str | int | float | bool | None
Comparable = float | str

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidValue(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message

    def problem(self, name: str) -> PropertyProblem:
        return PropertyProblem(name=name, error=self.error, message=self.message)


def _as_text(raw: str | int | float | bool) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip() if isinstance(raw, str) else str(raw)


def _number(text: str) -> str:
    try:
        finite = Decimal(text).is_finite()
    except InvalidOperation:
        finite = False
    if not finite:
        raise InvalidValue("INVALID_FLOAT", f"{text} was not a valid number.")
    return text


def _instant(text: str, kind: str) -> str:
    ms = ms_from_text(text)
    if ms is None:
        code = "INVALID_DATE" if kind == "date" else "INVALID_DATETIME"
        raise InvalidValue(code, f"{text} is not a valid {kind}. Use epoch milliseconds or ISO-8601.")
    if kind == "date":
        if ms % 86_400_000:
            raise InvalidValue("INVALID_DATE", f"{text} is not midnight UTC, which date properties require.")
        return date_from_ms(ms)
    return iso_from_ms(ms)


def _option(defn: PropertyDefinition, text: str) -> str:
    allowed = defn.option_values()
    if not allowed:
        return text
    # Multi-select (checkbox) values are ";"-separated; each part must be a defined option.
    parts = text.split(";") if defn.field_type == "checkbox" else [text]
    for part in parts:
        if part not in allowed:
            raise InvalidValue(
                "INVALID_OPTION", f"{part} was not one of the allowed options: [{', '.join(allowed)}]"
            )
    return text


def _boolean(text: str) -> str:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise InvalidValue("INVALID_BOOLEAN", f"{text} is not a valid boolean. Use true or false.")
    return lowered


def normalize(defn: PropertyDefinition, raw: PropValue, is_email: bool = False) -> str | None:
    """The stored string for `raw`, or None when the write clears the value ("" and null both clear)."""
    if raw is None:
        return None
    text = _as_text(raw)
    if text == "":
        return None
    if is_email:
        if not _EMAIL.match(text):
            raise InvalidValue("INVALID_EMAIL", f"Email address {text} is invalid")
        return text.lower()
    if defn.type == "number":
        return _number(text)
    if defn.type in ("date", "datetime"):
        return _instant(text, defn.type)
    if defn.type == "enumeration":
        return _option(defn, text)
    if defn.type == "bool":
        return _boolean(text)
    return text


def comparable(kind: str, text: str) -> Comparable | None:
    """A key that orders values of a property of type `kind`; None when `text` does not parse."""
    if kind == "number":
        try:
            return float(Decimal(text))
        except InvalidOperation:
            return None
    if kind in ("date", "datetime"):
        ms = ms_from_text(text)
        return None if ms is None else float(ms)
    return text.lower()
