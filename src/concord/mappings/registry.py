"""Loading every mapping spec of a directory into a MappingSet, validated at start-up."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from concord.mappings.mapper import Mapper
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import Transform, builtin_transforms
from concord.yamlconf import ConfigError, load_yaml_file


class MappingSet:
    """All mappers keyed by (system, entity); one spec per pair."""

    def __init__(self, specs: list[MappingSpec], transforms: dict[str, Transform]) -> None:
        self.mappers: dict[tuple[str, str], Mapper] = {}
        for spec in specs:
            key = (spec.system, spec.entity)
            if key in self.mappers:
                raise ConfigError([f"two mappings for system {spec.system!r} entity {spec.entity!r}"])
            self.mappers[key] = Mapper(spec, transforms)

    def get(self, system: str, entity: str) -> Mapper | None:
        return self.mappers.get((system, entity))

    def systems(self) -> set[str]:
        return {system for system, _ in self.mappers}

    def targets(self, entity: str) -> list[Mapper]:
        """Mappers that can send fields of `entity` outbound, in a stable order."""
        return [m for (_, e), m in sorted(self.mappers.items()) if e == entity and m.outbound_paths]


def bundled_specs_dir() -> Path:
    return Path(str(resources.files("concord.mappings") / "specs"))


def load_specs(directory: Path, transforms: dict[str, Transform] | None = None) -> list[MappingSpec]:
    """Validate every `*.yaml` under `directory`; all problems of all files are reported together."""
    known = transforms if transforms is not None else builtin_transforms()
    specs: list[MappingSpec] = []
    problems: list[str] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError([f"{directory}: no mapping files (*.yaml)"])
    for path in files:
        try:
            specs.append(load_yaml_file(MappingSpec, path, context={"transforms": known}))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return specs


def load_mapping_set(directory: Path, transforms: dict[str, Transform] | None = None) -> MappingSet:
    known = transforms if transforms is not None else builtin_transforms()
    return MappingSet(load_specs(directory, known), known)
