"""Loading every mapping spec of a directory into a MappingSet, validated at start-up.

Hub-wide specs live in `mappings/*.yaml`; a tenant may override any of them with a file of its own under
`mappings/tenants/<tenant>/*.yaml` (issue #8). Lookups take the change's tenant: its override when it has one,
else the hub-wide spec. Overrides are whole specs, not patches, so what runs for a tenant is readable in one file.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from concord.mappings.mapper import Mapper
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import Transform, builtin_transforms
from concord.yamlconf import ConfigError, load_yaml_file

HUB_WIDE = "*"  # the tenant of a hub-wide spec in the proposal and version tables
TENANTS_FOLDER = "tenants"
Key = tuple[str, str]
# change_log.mapping_version and the provenance column hold 64 characters; a label that does not fit would fail
# the group commit of every change it maps, so it is refused up front (6 digits left for version numbers).
LABEL_LIMIT = 64


def label_fits(system: str, entity: str, tenant: str) -> bool:
    return len(f"{system}/{entity}[{tenant}]@") + 6 <= LABEL_LIMIT


@dataclass(frozen=True)
class Override:
    """A tenant's spec as loaded, with the file it came from (for error messages)."""

    path: Path
    spec: MappingSpec


class MappingSet:
    """All mappers keyed by (system, entity), hub-wide and per tenant; one spec per pair (and tenant).

    Built once; an activation swaps one mapper in place (`put` / `drop`). The outbound targets of an entity are
    computed once per (entity, tenant) and cached until the next swap, so the router does no work per change
    beyond a dict read."""

    def __init__(self, specs: list[MappingSpec], transforms: dict[str, Transform],
                 overrides: list[MappingSpec] | None = None) -> None:
        self.transforms = transforms
        self.mappers: dict[Key, Mapper] = {}  # hub-wide
        self.overrides: dict[str, dict[Key, Mapper]] = {}  # tenant → its own mappers
        self._targets: dict[tuple[str, str | None], list[Mapper]] = {}
        self._write = threading.Lock()  # swaps come from ingest threads and the sync; readers never take it
        for spec in specs:
            if spec.tenant is not None:
                raise ConfigError([f"{spec.label}: a hub-wide mapping names tenant {spec.tenant!r}"])
            key = (spec.system, spec.entity)
            if key in self.mappers:
                raise ConfigError([f"two mappings for system {spec.system!r} entity {spec.entity!r}"])
            self.mappers[key] = Mapper(spec, transforms)
        for spec in overrides or []:
            self.put(Mapper(spec, transforms))

    def get(self, system: str, entity: str, tenant: str | None = None) -> Mapper | None:
        """The mapper for `tenant`'s changes: its override, else the hub-wide one (tenant None: hub-wide)."""
        if tenant is not None:
            own = self.overrides.get(tenant)
            if own is not None:
                found = own.get((system, entity))
                if found is not None:
                    return found
        return self.mappers.get((system, entity))

    def override(self, tenant: str, system: str, entity: str) -> Mapper | None:
        """Only `tenant`'s own override (None when it follows the hub-wide spec)."""
        return self.overrides.get(tenant, {}).get((system, entity))

    def put(self, mapper: Mapper) -> None:
        """Run `mapper` from now on: hub-wide, or for its spec's tenant."""
        spec = mapper.spec
        key = (spec.system, spec.entity)
        with self._write:  # two swaps of one tenant's dict at once would lose one of them
            if spec.tenant is None:
                self.mappers[key] = mapper
            else:
                own = dict(self.overrides.get(spec.tenant, {}))
                own[key] = mapper
                self.overrides[spec.tenant] = own  # replaced whole: a concurrent reader sees the old or the new
            self._targets = {}  # after the swap: a target list computed from now on holds the new mapper

    def drop(self, tenant: str, system: str, entity: str) -> None:
        """`tenant` follows the hub-wide spec again."""
        with self._write:
            own = {k: m for k, m in self.overrides.get(tenant, {}).items() if k != (system, entity)}
            self.overrides[tenant] = own
            self._targets = {}

    def systems(self) -> set[str]:
        return {system for system, _ in self.mappers}

    def specs(self) -> list[MappingSpec]:
        """Every spec in force, hub-wide first, then each tenant's overrides, in a stable order."""
        hub = sorted((m.spec for m in self.mappers.values()), key=lambda s: s.label)
        own = sorted((m.spec for o in self.overrides.values() for m in o.values()), key=lambda s: s.label)
        return hub + own

    def targets(self, entity: str, tenant: str | None = None) -> list[Mapper]:
        """Mappers that can send fields of `entity` outbound for `tenant`, in a stable order."""
        cache = self._targets  # read once: a swap replaces the dict, so nothing stale is stored in the new one
        found = cache.get((entity, tenant))
        if found is None:
            keys = sorted(k for k in self.mappers if k[1] == entity)
            candidates = (self.get(system, e, tenant) for system, e in keys)
            found = [m for m in candidates if m is not None and m.outbound_paths]
            cache[(entity, tenant)] = found
        return found

    def check_overrides(self, overrides: list[Override], tenants: Collection[str] | None) -> None:
        """Every override names a known tenant (when `tenants` is given) and a (system, entity) that has a
        hub-wide spec; raise ConfigError naming each offending file."""
        problems: list[str] = []
        seen: dict[tuple[str, str, str], Path] = {}
        for item in overrides:
            spec, tenant = item.spec, item.spec.tenant or ""
            if tenants is not None and tenant not in tenants:
                problems.append(f"{item.path}: tenant {tenant!r} (its folder) is not declared in concord.yaml")
            if not label_fits(spec.system, spec.entity, tenant):
                problems.append(f"{item.path}: tenant name {tenant!r} is too long for the mapping version label "
                                f"({LABEL_LIMIT} characters with system, entity and version)")
            if (spec.system, spec.entity) not in self.mappers:
                problems.append(f"{item.path}: no hub-wide mapping for system {spec.system!r} entity "
                                f"{spec.entity!r} to override")
            key = (tenant, spec.system, spec.entity)
            if key in seen:
                problems.append(f"{item.path}: tenant {tenant!r} overrides {spec.system}/{spec.entity} twice "
                                f"(also {seen[key]})")
            seen[key] = item.path
        if problems:
            raise ConfigError(problems)


def bundled_specs_dir() -> Path:
    return Path(str(resources.files("concord.mappings") / "specs"))


def _load_folder(directory: Path, known: dict[str, Transform], tenant: str | None,
                 problems: list[str]) -> list[tuple[Path, MappingSpec]]:
    loaded: list[tuple[Path, MappingSpec]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            spec = load_yaml_file(MappingSpec, path, context={"transforms": known, "folder_tenant": tenant})
            loaded.append((path, spec))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return loaded


def load_specs(directory: Path, transforms: dict[str, Transform] | None = None) -> list[MappingSpec]:
    """Validate every `*.yaml` under `directory`; all problems of all files are reported together."""
    known = transforms if transforms is not None else builtin_transforms()
    if not any(directory.glob("*.yaml")):
        raise ConfigError([f"{directory}: no mapping files (*.yaml)"])
    problems: list[str] = []
    specs = [spec for _, spec in _load_folder(directory, known, None, problems)]
    if problems:
        raise ConfigError(problems)
    return specs


def load_overrides(directory: Path, transforms: dict[str, Transform] | None = None) -> list[Override]:
    """Every tenant's overrides under `directory/tenants/<tenant>/*.yaml` (none when the folder is absent)."""
    known = transforms if transforms is not None else builtin_transforms()
    root = directory / TENANTS_FOLDER
    if not root.is_dir():
        return []
    problems: list[str] = []
    found: list[Override] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        found.extend(Override(path, spec) for path, spec in _load_folder(folder, known, folder.name, problems))
    if problems:
        raise ConfigError(problems)
    return found


def load_mapping_set(directory: Path, transforms: dict[str, Transform] | None = None,
                     tenants: Collection[str] | None = None) -> MappingSet:
    """Hub-wide specs and tenant overrides of `directory`; `tenants` (when known) are the tenants an override
    may be for."""
    known = transforms if transforms is not None else builtin_transforms()
    mappings = MappingSet(load_specs(directory, known), known)
    overrides = load_overrides(directory, known)
    mappings.check_overrides(overrides, tenants)
    for item in overrides:
        mappings.put(Mapper(item.spec, known))
    return mappings
