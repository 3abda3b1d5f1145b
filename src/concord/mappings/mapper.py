"""The mapper: pure translation between a system's native record and canonical field values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from concord.canonical.fields import JsonValue
from concord.mappings.spec import FieldMapping, MappingSpec
from concord.mappings.transforms import Transform, TransformError

# canonical id of the referenced entity → the target system's external id (None when not bound there)
RefResolver = Callable[[str, str], str | None]


class MappingError(ValueError):
    """A native record does not fit its mapping; names the system, the native field and the reason."""

    def __init__(self, spec: MappingSpec, native_field: str, message: str) -> None:
        super().__init__(f"{spec.label}: {native_field}: {message}")
        self.system = spec.system
        self.entity = spec.entity
        self.field = native_field
        self.reason = message


@dataclass
class InboundResult:
    values: dict[str, JsonValue] = field(default_factory=dict)
    # canonical path → (referenced entity, the source system's external id)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __init__(self, values: dict[str, JsonValue] | None = None,
                 references: dict[str, tuple[str, str]] | None = None) -> None:
        self.values = {} if values is None else values  # written out: decision 091
        self.references = {} if references is None else references


def flatten_native(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat.update(flatten_native(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


class MappedField:
    """What the mapper reads of one FieldMapping, held by a compiled class: every attribute read of a pydantic
    model goes through BaseModel's `__getattr__` hook, and the mapper made ~40 of them per ingested change
    (decision 091)."""

    def __init__(self, fm: FieldMapping) -> None:
        self.canonical: str = fm.canonical
        self.native: str = fm.native
        self.values: dict[str, Any] | None = fm.values
        self.transform: str | None = fm.transform
        self.reference: str | None = fm.reference
        self.create_only: bool = fm.create_only
        self.default: Any = fm.default


class Mapper:
    """Applies one MappingSpec; built once per spec at start-up."""

    def __init__(self, spec: MappingSpec, transforms: dict[str, Transform]) -> None:
        self.spec = spec
        # The spec is frozen: its label (recorded by every change this mapper maps, and by every command it
        # routes) is formatted once here, not twice per change (docs/decisions/074).
        self.label = spec.label
        self._transforms = transforms
        self._inbound = {fm.native: MappedField(fm) for fm in spec.fields if fm.inbound}
        self._outbound = [MappedField(fm) for fm in spec.fields if fm.outbound]
        self._create_defaults = dict(spec.create_defaults)
        self._reverse_values = {fm.native: {repr(v): k for k, v in fm.values.items()}
                                for fm in spec.fields if fm.values is not None}
        self.outbound_paths = frozenset(fm.canonical for fm in self._outbound)
        self._native_of = {fm.canonical: fm.native for fm in spec.fields}
        # Native names read back but never mapped inbound: what Concord writes one way, and create defaults.
        self._written_only = {fm.native for fm in spec.fields if not fm.inbound} | set(spec.create_defaults)
        self._known_paths = {fm.native for fm in spec.fields} | set(spec.ignore) | set(spec.create_defaults)

    def native_name(self, canonical: str) -> str:
        """The system's name for a canonical field, so errors speak the submitter's language."""
        return self._native_of.get(canonical, canonical)

    def to_canonical(self, native: dict[str, Any]) -> InboundResult:
        result = InboundResult()
        for name, raw in flatten_native(native).items():
            fm = self._inbound.get(name)
            if fm is None:
                if not self._skippable(name, raw):
                    raise MappingError(self.spec, name, "unknown field (not in the mapping nor its ignore list)")
                continue
            if fm.reference is not None:
                if raw not in (None, ""):
                    result.references[fm.canonical] = (fm.reference, str(raw))
                continue
            result.values[fm.canonical] = self._in_value(fm, raw)
        return result

    def _skippable(self, name: str, raw: Any) -> bool:
        if name == self.spec.external_id or name in self._written_only:
            return True
        if any(fnmatchcase(name, pattern) for pattern in self.spec.ignore):
            return True
        # An empty or null parent object (`"address": null`, `"metadata": {}`) carries no field of its own.
        return raw in (None, {}) and any(path.startswith(f"{name}.") for path in self._known_paths)

    def _in_value(self, fm: MappedField, raw: Any) -> JsonValue:
        if raw is None:
            return None
        if fm.values is not None:
            canonical = self._reverse_values[fm.native].get(repr(raw))
            if canonical is None:
                allowed = ", ".join(repr(v) for v in fm.values.values())
                raise MappingError(self.spec, fm.native, f"value {raw!r} is not one of {allowed}")
            return canonical
        if fm.transform is not None:
            try:
                return self._transforms[fm.transform].to_canonical(raw)
            except TransformError as exc:
                raise MappingError(self.spec, fm.native, str(exc)) from exc
        return raw

    def to_native(self, values: dict[str, JsonValue], *, create: bool,
                  resolve: RefResolver | None = None) -> dict[str, Any]:
        """Native payload for the mapped canonical fields present in `values` (all of them on create)."""
        out: dict[str, Any] = dict(self._create_defaults) if create else {}
        for fm in self._outbound:
            if fm.create_only and not create:
                continue
            if fm.canonical not in values and not (create and fm.default is not None):
                continue
            value = values.get(fm.canonical)
            value = fm.default if value is None else value
            if fm.reference is not None:
                if value is not None and resolve is not None:
                    external = resolve(fm.reference, str(value))
                    if external is not None:
                        _set_path(out, fm.native, external)
                continue
            _set_path(out, fm.native, self._out_value(fm, value))
        return out

    def _out_value(self, fm: MappedField, value: JsonValue) -> Any:
        if value is None:
            return None
        if fm.values is not None:
            if value not in fm.values:
                raise MappingError(self.spec, fm.native, f"no native value for canonical {value!r}")
            return fm.values[value]
        if fm.transform is not None:
            return self._transforms[fm.transform].to_native(value)
        return value
