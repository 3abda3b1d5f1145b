"""Stripe's form encoding: `metadata[k]=v`, `items[0][price]=p`, `expand[]=x` into nested values, plus
typed accessors that fail with Stripe's own parameter errors.

Every value on the wire is a string; an empty string for a hash (`address=`) or for `metadata=` means "unset".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from concord.sandbox.stripe.errors import invalid_param, missing_param, unknown_param

FormValue: TypeAlias = "str | list[FormValue] | dict[str, FormValue]"
Schema: TypeAlias = "Mapping[str, Schema | None]"

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
# Hashes whose keys are the caller's own: digit keys there must stay keys, never become list indexes.
_FREE_FORM = frozenset({"metadata"})


def _split_key(key: str) -> list[str]:
    head = key.split("[", 1)[0]
    return [head, *_KEY_PART.findall(key[len(head) :])]


def _insert(root: dict[str, FormValue], parts: list[str], value: str) -> None:
    node: dict[str, FormValue] = root
    for index, part in enumerate(parts):
        # `expand[]` appends: give the empty index the next free position.
        key = str(len(node)) if part == "" else part
        if index == len(parts) - 1:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child


def _finalize(value: FormValue, name: str) -> FormValue:
    if not isinstance(value, dict):
        return value
    if name in _FREE_FORM:
        return value
    converted = {key: _finalize(child, key) for key, child in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def parse_pairs(pairs: Sequence[tuple[str, str]]) -> dict[str, FormValue]:
    """Turn decoded form pairs into nested dicts and lists, as Stripe's Rack parser does."""
    root: dict[str, FormValue] = {}
    for key, value in pairs:
        if key:
            _insert(root, _split_key(key), value)
    return {key: _finalize(value, key) for key, value in root.items()}


def check_schema(data: Mapping[str, FormValue], schema: Schema, prefix: str = "") -> None:
    """Reject any parameter the endpoint does not document, naming it the way Stripe does."""
    for key, value in data.items():
        path = f"{prefix}[{key}]" if prefix else key
        if key not in schema:
            raise unknown_param(path)
        sub = schema[key]
        if sub is None:
            continue
        if isinstance(value, dict):
            check_schema(value, sub, path)
        elif isinstance(value, list):
            for index, element in enumerate(value):
                if isinstance(element, dict):
                    check_schema(element, sub, f"{path}[{index}]")


class Params:
    """Typed, Stripe-erroring access to one level of parsed parameters."""

    def __init__(self, data: Mapping[str, FormValue], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def path(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.data

    def string(self, name: str, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise missing_param(self.path(name))
            return None
        if not isinstance(value, str):
            raise invalid_param(self.path(name), f"Invalid string: {self.path(name)}")
        return value

    def required(self, name: str) -> str:
        value = self.string(name, required=True)
        if not value:
            raise missing_param(self.path(name))
        return value

    def nullable(self, name: str) -> str | None:
        """A string where an empty value clears the field."""
        value = self.string(name)
        return value or None

    def integer(self, name: str, required: bool = False) -> int | None:
        value = self.string(name, required)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid_param(
                self.path(name), f"Invalid integer: {value}", code="parameter_invalid_integer"
            ) from None

    def boolean(self, name: str) -> bool | None:
        value = self.string(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid_param(self.path(name), f"Invalid boolean: {value}")
        return value == "true"

    def choice(self, name: str, options: Sequence[str], required: bool = False) -> str | None:
        value = self.string(name, required)
        if value is None:
            return None
        if value not in options:
            listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
            raise invalid_param(self.path(name), f"Invalid {self.path(name)}: must be one of {listed}")
        return value

    def hash(self, name: str) -> Params | None:
        """A nested hash; None when absent or sent empty (which callers treat as "unset")."""
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_param(self.path(name), f"Invalid hash: {self.path(name)}")
        return Params(value, self.path(name))

    def hashes(self, name: str) -> list[Params]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise invalid_param(self.path(name), f"Invalid array: {self.path(name)}")
        return [Params(item, f"{self.path(name)}[{i}]") for i, item in enumerate(value) if isinstance(item, dict)]

    def strings(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid_param(self.path(name), f"Invalid array: {self.path(name)}")
        return [item for item in value if isinstance(item, str)]

    def metadata(self, name: str = "metadata") -> dict[str, str | None] | None:
        """Metadata changes: a value of "" unsets that key; `metadata=` alone clears every key (→ {})."""
        value = self.data.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_param(self.path(name), "Invalid metadata: must be a hash")
        changes: dict[str, str | None] = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid_param(f"{self.path(name)}[{key}]", f"Invalid value for metadata key {key}")
            if len(key) > 40 or len(item) > 500:
                raise invalid_param(
                    f"{self.path(name)}[{key}]",
                    "Metadata keys can be at most 40 characters and values at most 500 characters.",
                )
            changes[key] = item or None
        return changes


def apply_metadata(current: dict[str, str], changes: dict[str, str | None] | None) -> dict[str, str]:
    if changes is None:
        return dict(current)
    if not changes:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise invalid_param("metadata", "You can specify up to 50 keys in metadata.")
    return merged
