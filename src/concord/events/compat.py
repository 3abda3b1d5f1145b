"""Backward compatibility of event data schemas, judged on their JSON Schema (pure).

"Backward compatible" here means a reader written for the old version can read data of the new version:
every field the old version required is still required with the same shape, and fields both know keep their
shape. New fields are fine (readers ignore what they do not know); an old optional field may disappear.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
_NOISE = frozenset({"title", "description", "default", "examples"})


def _inline(node: Any, defs: Schema) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k not in _NOISE and k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def normalise(schema: Schema) -> Schema:
    """The schema with $refs inlined and documentation keywords dropped, so equal shapes compare equal."""
    result: Schema = _inline(schema, schema.get("$defs", {}))
    return result


def _enum_narrowed(old: Any, new: Any) -> bool:
    """A new enum that only drops values is still readable by the old reader."""
    return (isinstance(old, dict) and isinstance(new, dict) and "enum" in old and "enum" in new
            and {k: v for k, v in old.items() if k != "enum"} == {k: v for k, v in new.items() if k != "enum"}
            and set(map(repr, new["enum"])) <= set(map(repr, old["enum"])))


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Why a reader of `old` could not read data written against `new` (empty when compatible)."""
    old_n, new_n = normalise(old), normalise(new)
    old_props: Schema = old_n.get("properties", {})
    new_props: Schema = new_n.get("properties", {})
    new_required = set(new_n.get("required", []))
    problems = []
    for name in sorted(old_n.get("required", [])):
        if name not in new_props:
            problems.append(f"required field {name!r} was removed")
        elif name not in new_required:
            problems.append(f"required field {name!r} became optional")
    for name in sorted(set(old_props) & set(new_props)):
        if old_props[name] != new_props[name] and not _enum_narrowed(old_props[name], new_props[name]):
            problems.append(f"field {name!r} changed shape: {old_props[name]} -> {new_props[name]}")
    return problems
