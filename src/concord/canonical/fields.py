"""Flat field paths over the canonical entities: the unit of ownership, provenance and mapping.

`account.legal_address.city` is addressed as field `legal_address.city` of entity `account`. Values travel
through the core in JSON mode (decimals and dates as strings) so that equality, hashing and storage agree.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from concord.canonical.models import ENTITY_TYPES, Entity

JsonValue = Any  # a value as JSON would carry it: str, int, float, bool, None, list, dict


class UnknownEntity(KeyError):
    def __init__(self, entity: str) -> None:
        super().__init__(f"unknown entity {entity!r}; known: {', '.join(sorted(ENTITY_TYPES))}")
        self.entity = entity

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class FieldValidationError(ValueError):
    """One or more field values are unknown or of the wrong type; names every offending field."""

    def __init__(self, entity: str, problems: list[FieldProblem]) -> None:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems)
        super().__init__(f"{entity}: {detail}")
        self.entity = entity
        self.problems = problems


@dataclass(frozen=True)
class FieldSpec:
    path: str
    adapter: TypeAdapter[Any]
    annotation: Any
    # The adapter's pydantic-core validator, called directly: `TypeAdapter.validate_python` is a Python layer (an
    # option check, eight keyword arguments passed on) around it, paid once per field of every submitted change.
    validate: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validate", self.adapter.validator.validate_python)

    def dump_json_mode(self, value: Any) -> JsonValue:
        """What `adapter.dump_python(value, mode="json")` returns, without that Python layer likewise."""
        dumped: JsonValue = self.adapter.serializer.to_python(value, mode="json")
        return dumped


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if len(models) == 1 else None
    return None


def _walk(model: type[BaseModel], prefix: str) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        if name == "schema_version":
            continue
        path = f"{prefix}{name}"
        nested = _nested_model(info.annotation)
        if nested is not None:
            specs.update(_walk(nested, f"{path}."))
            continue
        leaf = FieldInfo.merge_field_infos(info, default=None)
        # The leaf validator keeps the model's own string handling (e.g. stripping), so a flat value and the
        # typed entity agree.
        config = ConfigDict(str_strip_whitespace=model.model_config.get("str_strip_whitespace", False))
        annotated = typing.Annotated[info.annotation, leaf]  # type: ignore[name-defined]
        adapter: TypeAdapter[Any] = TypeAdapter(annotated, config=config)
        specs[path] = FieldSpec(path=path, adapter=adapter, annotation=info.annotation)
    return specs


@cache
def field_catalog(entity: str) -> dict[str, FieldSpec]:
    """Every leaf field path of `entity` with its validator; built once per entity on first use."""
    model = ENTITY_TYPES.get(entity)
    if model is None:
        raise UnknownEntity(entity)
    return _walk(model, "")


_JSON_NATIVE = frozenset({str, int, bool})


def normalize_values(entity: str, values: dict[str, Any]) -> dict[str, JsonValue]:
    """Validate raw field values and return them in JSON mode; every bad field is named at once."""
    catalog = field_catalog(entity)
    out: dict[str, JsonValue] = {}
    problems: list[FieldProblem] = []
    for path, raw in values.items():
        spec = catalog.get(path)
        if spec is None:
            problems.append(FieldProblem(path, "unknown field"))
            continue
        if raw is None:
            out[path] = None
            continue
        try:
            value = spec.validate(raw)
            # A validated str, int or bool is its own JSON-mode dump (no canonical field has a serializer, which
            # tests/canonical/test_fields.py pins); the dump was a third of each field's cost, once per field of
            # every submitted change.
            out[path] = value if type(value) in _JSON_NATIVE else spec.dump_json_mode(value)
        except ValidationError as exc:
            problems.append(FieldProblem(path, exc.errors()[0]["msg"]))
    if problems:
        raise FieldValidationError(entity, problems)
    return out


def unflatten(values: dict[str, JsonValue]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in values.items():
        node = nested
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def to_entity(entity: str, values: dict[str, JsonValue]) -> Entity:
    """Build the typed entity from flat JSON-mode values (used for exports and API reads)."""
    model = ENTITY_TYPES.get(entity)
    if model is None:
        raise UnknownEntity(entity)
    return model.model_validate(unflatten(values))
