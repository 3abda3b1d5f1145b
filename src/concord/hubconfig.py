"""The hub's own configuration (concord.yaml): systems, tenants, and where the rest of the config lives."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from concord.canonical.models import ENTITY_TYPES
from concord.mappings.mapper import Mapper
from concord.mappings.registry import MappingSet, bundled_specs_dir, load_mapping_set
from concord.ownership.policy import OwnershipPolicy, RuleIndex
from concord.yamlconf import ConfigError, Located, load_yaml_file

INTERNAL_SYSTEMS = frozenset({"concord", "steward"})  # speak canonical fields directly, no mapping


class SystemKind(StrEnum):
    CRM = "crm"
    ERP = "erp"
    BILLING = "billing"
    SUPPORT = "support"
    IDENTITY = "identity"


class SystemConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: SystemKind
    description: str = ""


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    systems: list[str] = Field(min_length=1, description="systems this tenant syncs with")
    auto_create: dict[str, list[str]] = Field(
        default_factory=dict, description="system → entities Concord creates there when not yet bound")
    region: str | None = Field(default=None, min_length=1, max_length=32, description=(
        "data residency: this tenant's data is only sent to endpoints of this region (`region:` of an endpoint "
        "in the connections file); without one in the region a delivery fails, it never goes elsewhere"))


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    systems: dict[str, SystemConfig]
    tenants: dict[str, TenantConfig]

    @model_validator(mode="after")
    def _known_systems(self) -> HubConfig:
        for name, tenant in self.tenants.items():
            for i, system in enumerate(tenant.systems):
                if system not in self.systems:
                    raise Located(("tenants", name), f"unknown system {system!r}", ("tenants", name, "systems", i))
            for system, entities in tenant.auto_create.items():
                if system not in self.systems:
                    raise Located(("tenants", name), f"unknown system {system!r}",
                                  ("tenants", name, "auto_create", system))
                unknown = [e for e in entities if e not in ENTITY_TYPES]
                if unknown:
                    raise Located(("tenants", name, "auto_create", system), f"unknown entity {unknown[0]!r}")
        return self


class LiveOwnership:
    """The ownership rules in force, swappable while the process runs: an activated ownership version (#8)
    replaces them without a restart. Readers take `current` once per decision; a swap replaces the pair whole,
    so a reader never sees a policy with another policy's memo."""

    def __init__(self, policy: OwnershipPolicy) -> None:
        self.current: tuple[OwnershipPolicy, RuleIndex] = (policy, RuleIndex(policy))
        self.configured = policy  # ownership.yaml: what a store without activated versions runs
        self.active_version: int | None = None  # the ownership_versions row in force (None: the file)
        self.checked_at = float("-inf")  # monotonic time of the last look at the store
        self.lock = threading.Lock()

    def swap(self, policy: OwnershipPolicy, version: int | None) -> None:
        self.current = (policy, RuleIndex(policy))
        self.active_version = version

    def invalidate(self) -> None:
        """An activation swapped in here was not committed (a concurrent one won the version number): make the
        next `sync` look at once and put the stored version back, whatever number this one claimed."""
        with self.lock:
            self.active_version = -1
            self.checked_at = float("-inf")


MAPPING_SYNC_S = 1.0
MappingKey = tuple[str, str, str]  # (tenant or "*", system, entity) of a mapping_versions history


class LiveMappings:
    """What this process knows of the activated mapping versions, so `concord.security.mapping_sync.sync` can
    tell cheaply whether another process activated one (#8): the last look's fingerprint of the version table,
    the version applied per (tenant, system, entity), and what ran before a key was first applied (restored if
    its rows vanish, e.g. a database restored from before the change)."""

    def __init__(self, interval: float = MAPPING_SYNC_S) -> None:
        self.interval = interval  # seconds between looks (CONCORD_MAPPING_SYNC_S); 0 looks on every call
        self.fingerprint: tuple[int, int | None] | None = None  # (rows, highest id) at the last look
        self.applied: dict[MappingKey, int] = {}
        self.before: dict[MappingKey, Mapper | None] = {}  # None: the tenant followed the hub-wide spec
        self.checked_at = float("-inf")  # monotonic time of the last look at the store
        self.lock = threading.Lock()  # one look or activation at a time; readers of the mappings never wait

    def invalidate(self) -> None:
        """Like `LiveOwnership.invalidate`: the next look re-applies every stored version."""
        with self.lock:
            self.fingerprint = None
            self.applied = {key: -1 for key in self.applied}
            self.checked_at = float("-inf")


@dataclass(frozen=True)
class Runtime:
    """Everything the core needs to decide, loaded and validated once at start-up (ownership rules excepted:
    they are read from the store, see `concord.security.ownership_changes.sync`, and so are activated mapping
    versions, see `concord.security.mapping_sync.sync`)."""

    hub: HubConfig
    live: LiveOwnership
    mappings: MappingSet
    config_dir: Path
    live_mappings: LiveMappings = field(default_factory=LiveMappings)

    @property
    def ownership(self) -> OwnershipPolicy:
        return self.live.current[0]

    @property
    def rules(self) -> RuleIndex:
        return self.live.current[1]

    def knows_system(self, system: str) -> bool:
        return system in self.hub.systems or system in INTERNAL_SYSTEMS


def bundled_config_dir() -> Path:
    return Path(str(resources.files("concord") / "defaults"))


def load_runtime(config_dir: Path | None, mapping_sync_s: float = MAPPING_SYNC_S) -> Runtime:
    """Load concord.yaml, ownership.yaml and mappings/; every problem names its file and line. `mapping_sync_s`:
    how often the running process looks for mapping versions activated elsewhere."""
    base = config_dir or bundled_config_dir()
    hub = load_yaml_file(HubConfig, base / "concord.yaml")
    ownership = load_yaml_file(OwnershipPolicy, base / "ownership.yaml",
                               context={"systems": set(hub.systems) | INTERNAL_SYSTEMS})
    mapping_dir = base / "mappings"
    # Tenant overrides (mappings/tenants/<tenant>/) are checked against the tenants declared above.
    mappings = load_mapping_set(mapping_dir if mapping_dir.is_dir() else bundled_specs_dir(),
                                tenants=set(hub.tenants))
    unknown = sorted(mappings.systems() - set(hub.systems))
    if unknown:
        raise ConfigError([f"{mapping_dir}: mappings for systems not declared in concord.yaml: {unknown}"])
    return Runtime(hub=hub, live=LiveOwnership(ownership), mappings=mappings, config_dir=base,
                   live_mappings=LiveMappings(mapping_sync_s))

