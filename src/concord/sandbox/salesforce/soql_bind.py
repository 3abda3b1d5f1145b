"""Binding SOQL names and literals to the schema: field paths (one parent hop, e.g. `Account.Name`) and
literals checked against the field's type the way Salesforce checks them (quoted text, bare dates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from concord.sandbox.salesforce.ids import normalize_id
from concord.sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef, Value, object_def
from concord.sandbox.salesforce.values import parse_datetime

# (errorCode, message) of a binding problem; the parser wraps it in the row/column excerpt.
Problem = tuple[str, str]
_TYPE_NAMES = {"datetime": "dateTime", "date": "date", "int": "integer", "double": "double",
               "currency": "currency", "boolean": "boolean"}


@dataclass(frozen=True)
class Path:
    """A selectable field: on the queried object, or on a parent reached through `relationship`."""

    field: FieldDef
    relationship: FieldDef | None = None
    parent: ObjectDef | None = None

    @property
    def name(self) -> str:
        if self.relationship is None:
            return self.field.name
        return f"{self.relationship.relationship_name}.{self.field.name}"


def _no_such_column(name: str, obj: ObjectDef) -> str:
    return (f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be "
            "sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
            "call for the appropriate names.")


def resolve_path(obj: ObjectDef, text: str) -> tuple[Path | None, str]:
    """The path `text` names on `obj`, or None and Salesforce's INVALID_FIELD message."""
    parts = text.split(".")
    if len(parts) == 1:
        field = obj.field(text)
        return (Path(field), "") if field else (None, _no_such_column(text, obj))
    lookup = obj.relationship(parts[0]) if len(parts) == 2 else None
    parent = object_def(lookup.reference_to[0]) if lookup else None
    if lookup is None or parent is None:
        return None, (f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting to use "
                      "a custom relationship, be sure to append the '__r' after the custom relationship name. "
                      "Please reference your WSDL or the describe call for the appropriate names.")
    field = parent.field(parts[1])
    return (Path(field, lookup, parent), "") if field else (None, _no_such_column(parts[1], parent))


def _criterion(field: FieldDef, quoted: bool) -> Problem:
    type_name = "string" if field.type in TEXT_TYPES else _TYPE_NAMES.get(field.type, field.type)
    should = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    message = f"value of filter criterion for field '{field.name}' must be of type {type_name} and {should}"
    return "INVALID_FIELD", message


def _bind_keyword(field: FieldDef, text: str) -> tuple[Value, Problem | None]:
    word = text.upper()
    if word == "NULL":
        return None, None
    if word in ("TRUE", "FALSE"):
        if field.type != "boolean":
            return None, _criterion(field, field.type in TEXT_TYPES)
        return word == "TRUE", None
    return None, ("MALFORMED_QUERY", f"unexpected token: '{text}'")


def _bind_text(field: FieldDef, kind: str, text: str) -> tuple[Value, Problem | None]:
    if kind != "string":
        return None, _criterion(field, quoted=True)
    if field.type in ("id", "reference") and text:
        full = normalize_id(text)
        if full is None:
            return None, ("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
        return full, None
    return text, None


def bind_literal(field: FieldDef, kind: str, text: str) -> tuple[Value, Problem | None]:
    """`text` (a token of `kind`) as a value comparable with `field`, or the problem Salesforce reports."""
    if kind == "ident":
        return _bind_keyword(field, text)
    if field.type in TEXT_TYPES:
        return _bind_text(field, kind, text)
    if field.type == "datetime" and kind == "datetime":
        return parse_datetime(text), None
    if field.type == "date" and kind == "date":
        return date.fromisoformat(text), None
    if field.type in NUMBER_TYPES and kind == "number":
        return (int(text) if field.type == "int" and "." not in text else float(text)), None
    return None, _criterion(field, quoted=False)
