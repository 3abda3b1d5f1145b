"""The hub's own configuration (concord.yaml): systems, tenants, and where the rest of the config lives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from concord.canonical.models import ENTITY_TYPES
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


@dataclass(frozen=True)
class Runtime:
    """Everything the core needs to decide, loaded and validated once at start-up."""

    hub: HubConfig
    ownership: OwnershipPolicy
    rules: RuleIndex
    mappings: MappingSet
    config_dir: Path

    def knows_system(self, system: str) -> bool:
        return system in self.hub.systems or system in INTERNAL_SYSTEMS


def bundled_config_dir() -> Path:
    return Path(str(resources.files("concord") / "defaults"))


def load_runtime(config_dir: Path | None) -> Runtime:
    """Load concord.yaml, ownership.yaml and mappings/; every problem names its file and line."""
    base = config_dir or bundled_config_dir()
    hub = load_yaml_file(HubConfig, base / "concord.yaml")
    ownership = load_yaml_file(OwnershipPolicy, base / "ownership.yaml",
                               context={"systems": set(hub.systems) | INTERNAL_SYSTEMS})
    mapping_dir = base / "mappings"
    mappings = load_mapping_set(mapping_dir if mapping_dir.is_dir() else bundled_specs_dir())
    unknown = sorted(mappings.systems() - set(hub.systems))
    if unknown:
        raise ConfigError([f"{mapping_dir}: mappings for systems not declared in concord.yaml: {unknown}"])
    return Runtime(hub=hub, ownership=ownership, rules=RuleIndex(ownership), mappings=mappings, config_dir=base)

