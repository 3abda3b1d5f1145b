"""Converting between JSON bodies and the twin's typed field values, the way Salesforce's deserializer does.

Incoming: scalars coerce to the field's type (numbers to text, numeric strings to numbers), an empty string
means null, and anything that cannot coerce is a `JSON_PARSER_ERROR` naming the JSON token and position.
Outgoing: datetimes are `2024-01-31T09:15:00.000+0000`, dates ISO, numbers JSON numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from concord.sandbox.salesforce.errors import ApiError, json_parser_error, no_such_column
from concord.sandbox.salesforce.schema import TEXT_TYPES, FieldDef, JsonValue, ObjectDef, Value, object_def

_INT = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Invalid:
    """Marks a JSON value that cannot become the field's type."""


_INVALID = _Invalid()


@dataclass(frozen=True)
class ForeignKey:
    """A lookup set through the parent's external id: `"Account": {"Concord_Id__c": "c-1"}`."""

    field: FieldDef
    target: ObjectDef
    key_field: FieldDef
    key: str


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """ISO-8601 with `Z`, `+hh:mm` or `+hhmm` (Salesforce's own output form); naive means UTC."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_json(field: FieldDef, value: Value) -> JsonValue:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if field.type in ("double", "currency") and isinstance(value, int | float):
        return float(value)
    return value


def render_record(obj: ObjectDef, row: dict[str, Value], version: str,
                  fields: list[FieldDef] | None = None) -> dict[str, JsonValue]:
    """A record as REST returns it: `attributes` first, then the fields in describe order."""
    record: dict[str, JsonValue] = {
        "attributes": {"type": obj.name, "url": f"/services/data/{version}/sobjects/{obj.name}/{row['Id']}"}
    }
    for field in fields if fields is not None else obj.fields:
        record[field.name] = to_json(field, row.get(field.name))
    return record


def parse_body(raw: bytes) -> JsonValue:
    """The request body as JSON, or Salesforce's JSON_PARSER_ERROR with Jackson's line/column."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise json_parser_error("No content to map due to end-of-input at [line:1, column:0]")
    try:
        parsed: JsonValue = json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_parser_error(f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]") from exc
    return parsed


def _token(value: JsonValue) -> tuple[str, str]:
    if isinstance(value, bool):
        return ("VALUE_TRUE" if value else "VALUE_FALSE"), str(value).lower()
    if isinstance(value, int):
        return "VALUE_NUMBER_INT", str(value)
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT", repr(value)
    if isinstance(value, dict):
        return "START_OBJECT", "{"
    if isinstance(value, list):
        return "START_ARRAY", "["
    return "VALUE_STRING", str(value)


def _position(raw: str, key: str) -> tuple[int, int]:
    """Line and column of `key`'s value in the raw body, approximately where Jackson would report it."""
    at = raw.find(f'"{key}"')
    if at < 0:
        return 1, 1
    at = raw.find(":", at) + 1
    while at < len(raw) and raw[at] in " \t\r\n":
        at += 1
    line = raw.count("\n", 0, at) + 1
    return line, at - (raw.rfind("\n", 0, at) + 1) + 1


def type_error(field: FieldDef, value: JsonValue, raw: str, key: str) -> ApiError:
    token, text = _token(value)
    line, column = _position(raw, key)
    java_type = "string" if field.type in TEXT_TYPES - {"id", "reference"} else field.type
    return json_parser_error(
        f"Cannot deserialize instance of {java_type} from {token} value {text} or request may be missing "
        f"a required field at [line:{line}, column:{column}]"
    )


def _coerce_text(value: JsonValue) -> Value | _Invalid:
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return _INVALID


def _coerce_number(field: FieldDef, value: JsonValue) -> Value | _Invalid:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _INVALID
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not (_INT if field.type == "int" else _NUMBER).match(text):
            return _INVALID
        return int(text) if field.type == "int" else float(text)
    if field.type == "int":
        return int(value) if float(value).is_integer() else _INVALID
    return float(value)


def _coerce_temporal(field: FieldDef, value: JsonValue) -> Value | _Invalid:
    if not isinstance(value, str):
        return _INVALID
    if not value:
        return None
    if field.type == "date":
        return date.fromisoformat(value) if _DATE.match(value) and _valid_date(value) else _INVALID
    return parse_datetime(value) or _INVALID


def _coerce_boolean(value: JsonValue) -> Value | _Invalid:
    if isinstance(value, bool):
        return value
    lowered = value.lower() if isinstance(value, str) else ""
    return {"true": True, "false": False}.get(lowered, _INVALID)


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def coerce(field: FieldDef, value: JsonValue, raw: str, key: str) -> Value:
    """`value` as the field's Python type, or the JSON_PARSER_ERROR Salesforce answers."""
    if value is None:
        return None
    result: Value | _Invalid
    if field.type in TEXT_TYPES:
        result = _coerce_text(value)
    elif field.type in ("int", "double", "currency"):
        result = _coerce_number(field, value)
    elif field.type in ("date", "datetime"):
        result = _coerce_temporal(field, value)
    elif field.type == "boolean":
        result = _coerce_boolean(value)
    else:
        result = _INVALID
    if isinstance(result, _Invalid):
        raise type_error(field, value, raw, key)
    return result


def _foreign_key(obj: ObjectDef, key: str, value: JsonValue, raw: str) -> ForeignKey:
    lookup = obj.relationship(key)
    assert lookup is not None
    target = object_def(lookup.reference_to[0])
    if target is None or not isinstance(value, dict):
        raise no_such_column(key, obj.name)
    keys = [name for name in value if name != "attributes"]
    if len(keys) != 1:
        raise json_parser_error(f"Foreign key external ID lookup on {key} needs exactly one field")
    key_field = target.field(keys[0])
    if key_field is None or not (key_field.external_id or key_field.type == "id"):
        raise no_such_column(keys[0], target.name)
    key_value = coerce(key_field, value[keys[0]], raw, keys[0])
    return ForeignKey(lookup, target, key_field, str(key_value or ""))


def deserialize(obj: ObjectDef, body: JsonValue, raw: str) -> dict[str, Value | ForeignKey]:
    """Map a JSON record onto `obj`'s fields (canonical names); unknown names are INVALID_FIELD."""
    if not isinstance(body, dict):
        token, text = _token(body)
        raise json_parser_error(
            f"Cannot deserialize instance of {obj.name} from {token} value {text} or request may be missing "
            "a required field at [line:1, column:1]"
        )
    values: dict[str, Value | ForeignKey] = {}
    for key, value in body.items():
        if key == "attributes":
            continue
        field = obj.field(key)
        if field is not None:
            values[field.name] = coerce(field, value, raw, key)
        elif obj.relationship(key) is not None and isinstance(value, dict):
            fk = _foreign_key(obj, key, value, raw)
            values[fk.field.name] = fk
        else:
            raise no_such_column(key, obj.name)
    return values
