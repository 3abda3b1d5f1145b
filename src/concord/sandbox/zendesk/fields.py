"""Reading an organization or user payload into typed changes, the way Zendesk coerces and rejects values.

Unknown and read-only properties (`id`, `url`, `created_at`, ...) are ignored, as the real API does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from concord.sandbox.zendesk.errors import FieldErrors, invalid
from concord.sandbox.zendesk.models import USER_ROLES, JsonDict

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SCALARS = (str, int, float, bool)

Coercer = Callable[[Any], Any]


@dataclass
class Changes:
    """New values by attribute name; custom fields hold only the keys sent (Zendesk merges them)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: FieldErrors = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.values.get(key)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(value)
    text = str(value).strip()
    # A blank string clears an optional text property rather than storing "".
    return text or None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _optional_id(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(value)


def _words(value: Any) -> list[str]:
    """Tags and domain names: a list, or one space/comma separated string; lowercased, de-duplicated."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = re.split(r"[\s,]+", value)
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(value)
    words: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(value)
        for word in str(item).lower().split():
            if word not in words:
                words.append(word)
    return words


def _role(value: Any) -> str:
    if value not in USER_ROLES:
        raise ValueError(value)
    return str(value)


def _email(value: Any) -> str | None:
    text = _text(value)
    if text is not None and not _EMAIL.match(text):
        raise ValueError(value)
    return text.lower() if text else None


ORGANIZATION_SPECS: dict[str, tuple[str, Coercer]] = {
    "name": ("Name", _text),
    "external_id": ("External ID", _text),
    "details": ("Details", _text),
    "notes": ("Notes", _text),
    "group_id": ("Group", _optional_id),
    "shared_tickets": ("Shared tickets", _flag),
    "shared_comments": ("Shared comments", _flag),
    "domain_names": ("Domain names", _words),
    "tags": ("Tags", _words),
}

USER_SPECS: dict[str, tuple[str, Coercer]] = {
    "name": ("Name", _text),
    "email": ("Email", _email),
    "external_id": ("External ID", _text),
    "organization_id": ("Organization", _optional_id),
    "role": ("Role", _role),
    "phone": ("Phone", _text),
    "alias": ("Alias", _text),
    "details": ("Details", _text),
    "notes": ("Notes", _text),
    "time_zone": ("Time zone", _text),
    "locale": ("Locale", _text),
    "verified": ("Verified", _flag),
    "suspended": ("Suspended", _flag),
    "tags": ("Tags", _words),
}


def _custom_values(raw: Any, keys: tuple[str, ...], label: str, changes: Changes, attr: str) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        changes.errors.setdefault(attr, []).append(invalid(label, raw))
        return
    kept: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            continue  # Zendesk drops values for custom fields the account has not defined.
        scalar_list = isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)
        if value is None or isinstance(value, _SCALARS) or scalar_list:
            kept[key] = value
        else:
            changes.errors.setdefault(attr, []).append(invalid(f"{label} {key}", value))
    changes.values[attr] = kept


def _collect(payload: JsonDict, specs: dict[str, tuple[str, Coercer]]) -> Changes:
    changes = Changes()
    for key, (label, coerce) in specs.items():
        if key not in payload:
            continue
        try:
            changes.values[key] = coerce(payload[key])
        except ValueError:
            error = invalid(label, payload[key])
            if key == "email":
                error = {
                    "description": f"Email: {payload[key]} is not properly formatted",
                    "error": "InvalidFormat",
                }
            changes.errors.setdefault(key, []).append(error)
    return changes


def organization_changes(payload: JsonDict, custom_keys: tuple[str, ...]) -> Changes:
    changes = _collect(payload, ORGANIZATION_SPECS)
    if "organization_fields" in payload:
        _custom_values(
            payload["organization_fields"], custom_keys, "Organization fields", changes, "organization_fields"
        )
    return changes


def user_changes(payload: JsonDict, custom_keys: tuple[str, ...]) -> Changes:
    changes = _collect(payload, USER_SPECS)
    if "user_fields" in payload:
        _custom_values(payload["user_fields"], custom_keys, "User fields", changes, "user_fields")
    return changes
