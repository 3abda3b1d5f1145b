"""The schema registry: every event type with its versions, validation at publish, upcasting on read, and the
check of the registry against its committed snapshot (src/concord/events/schemas/*.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from concord.events.catalog import Data, Upcaster, catalogue, upcasters
from concord.events.compat import Schema, incompatibilities, normalise
from concord.events.envelope import EventEnvelope

SNAPSHOT_DIR = Path(__file__).with_name("schemas")


class SchemaViolation(ValueError):
    """An event does not match its declared schema; it is refused at publish and never reaches a subscriber."""

    def __init__(self, event_type: str, version: int, problems: list[str]) -> None:
        super().__init__(f"{event_type} v{version} refused: " + "; ".join(problems))
        self.event_type = event_type
        self.version = version
        self.problems = problems


class IncompatibleSchema(ValueError):
    """A new schema version that readers of the previous one could not read."""


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in ("data", *loc))


@dataclass
class SchemaRegistry:
    models: dict[str, list[type[BaseModel]]] = field(default_factory=dict)
    steps: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    @classmethod
    def default(cls) -> SchemaRegistry:
        """The built-in catalogue, each version checked against the previous as it is registered."""
        registry = cls()
        steps = upcasters()
        for event_type, versions in catalogue().items():
            for i, model in enumerate(versions):
                registry.register(event_type, model, steps.get((event_type, i)))
        return registry

    def register(self, event_type: str, model: type[BaseModel], upcast_from_previous: Upcaster | None = None) -> int:
        """Add the next version of `event_type`; refused when readers of the previous version cannot read it."""
        versions = self.models.setdefault(event_type, [])
        if versions:
            problems = incompatibilities(versions[-1].model_json_schema(), model.model_json_schema())
            if problems:
                raise IncompatibleSchema(f"{event_type} v{len(versions) + 1}: " + "; ".join(problems))
            if upcast_from_previous is None:
                raise IncompatibleSchema(f"{event_type} v{len(versions) + 1}: needs an upcaster from "
                                         f"v{len(versions)}")
            self.steps[(event_type, len(versions))] = upcast_from_previous
        versions.append(model)
        return len(versions)

    def latest(self, event_type: str) -> int:
        return len(self.models[event_type])

    def types(self) -> list[str]:
        return sorted(self.models)

    def validate(self, envelope: EventEnvelope) -> None:
        """Strict check at publish: known type and version, data valid, no unknown top-level fields."""
        versions = self.models.get(envelope.type)
        if versions is None:
            raise SchemaViolation(envelope.type, envelope.schema_version, ["unknown event type"])
        if envelope.schema_version > len(versions):
            raise SchemaViolation(envelope.type, envelope.schema_version,
                                  [f"unknown schema version (newest is v{len(versions)})"])
        model = versions[envelope.schema_version - 1]
        try:
            model.model_validate(envelope.data)
        except ValidationError as exc:
            raise SchemaViolation(envelope.type, envelope.schema_version,
                                  [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()]) from exc
        unknown = sorted(set(envelope.data) - set(model.model_fields))
        if unknown:
            raise SchemaViolation(envelope.type, envelope.schema_version,
                                  [f"data.{name}: unknown field" for name in unknown])

    def upcast(self, envelope: EventEnvelope) -> EventEnvelope:
        """The event as the newest version of its schema (readers only ever see the newest version)."""
        data: Data = envelope.data
        version = envelope.schema_version
        newest = self.latest(envelope.type)
        while version < newest:
            data = self.steps[(envelope.type, version)](data)
            version += 1
        if version == envelope.schema_version:
            return envelope
        return envelope.model_copy(update={"schema_version": version, "data": data})

    def json_schemas(self, event_type: str) -> dict[str, Schema]:
        return {str(i + 1): model.model_json_schema() for i, model in enumerate(self.models[event_type])}


def write_snapshot(registry: SchemaRegistry, directory: Path) -> list[Path]:
    """Write one JSON file per event type; returns the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for event_type in registry.types():
        path = directory / f"{event_type}.json"
        text = json.dumps({"type": event_type, "versions": registry.json_schemas(event_type)}, indent=2,
                          sort_keys=True) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def _read_snapshot(directory: Path) -> dict[str, dict[str, Schema]]:
    snapshot: dict[str, dict[str, Schema]] = {}
    for path in sorted(directory.glob("*.json")):
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        snapshot[doc["type"]] = doc["versions"]
    return snapshot


@dataclass
class SnapshotReport:
    incompatible: list[str] = field(default_factory=list)  # never acceptable
    stale: list[str] = field(default_factory=list)  # compatible, but the snapshot must be refreshed and committed

    @property
    def ok(self) -> bool:
        return not self.incompatible and not self.stale


def check_snapshot(registry: SchemaRegistry, directory: Path) -> SnapshotReport:
    """Compare the registry in code with the committed snapshot."""
    snapshot = _read_snapshot(directory)
    report = SnapshotReport()
    for event_type, versions in sorted(snapshot.items()):
        current = registry.json_schemas(event_type) if event_type in registry.models else {}
        for version, schema in sorted(versions.items(), key=lambda kv: int(kv[0])):
            if version not in current:
                report.incompatible.append(f"{event_type} v{version}: published version was removed")
                continue
            broken = incompatibilities(schema, current[version])
            report.incompatible += [f"{event_type} v{version}: {p}" for p in broken]
            if not broken and normalise(schema) != normalise(current[version]):
                report.stale.append(f"{event_type} v{version}: changed compatibly since the snapshot")
    for event_type in registry.types():
        for version in registry.json_schemas(event_type):
            if version not in snapshot.get(event_type, {}):
                report.stale.append(f"{event_type} v{version}: not in the snapshot")
    return report
