"""Typed mapping specs, validated from YAML at start-up (`concord mappings validate`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from concord.canonical.fields import field_catalog
from concord.canonical.models import ENTITY_TYPES
from concord.yamlconf import Located


class Direction(StrEnum):
    BOTH = "both"
    INBOUND = "inbound"  # system → canonical only
    OUTBOUND = "outbound"  # canonical → system only


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    canonical: str
    native: str = Field(min_length=1, description="the system's field; dots address nested objects")
    direction: Direction = Direction.BOTH
    values: dict[str, Any] | None = Field(default=None, description="canonical value → native value")
    transform: str | None = None
    reference: str | None = Field(default=None, description="entity whose external id the native field holds")
    create_only: bool = False
    default: Any = Field(default=None, description="canonical value sent outbound when the field is empty")

    @field_validator("canonical")
    @classmethod
    def _known_field(cls, path: str, info: ValidationInfo) -> str:
        # MappingSpec validates `entity` first and leaves it in the context, so the error lands on this line.
        entity = (info.context or {}).get("entity")
        if entity is not None and path not in field_catalog(entity):
            raise ValueError(f"{path!r} is not a field of {entity}")
        return path

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, name: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("transforms")
        if name is not None and known is not None and name not in known:
            raise ValueError(f"unknown transform {name!r}; known: {', '.join(sorted(known))}")
        return name

    @field_validator("values")
    @classmethod
    def _invertible(cls, values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is not None and len({repr(v) for v in values.values()}) != len(values):
            raise ValueError("value map must be one-to-one so that inbound values can be read back")
        return values

    @field_validator("reference")
    @classmethod
    def _known_entity(cls, entity: str | None) -> str | None:
        if entity is not None and entity not in ENTITY_TYPES:
            raise ValueError(f"unknown entity {entity!r}")
        return entity

    @model_validator(mode="after")
    def _one_conversion(self) -> FieldMapping:
        if sum(x is not None for x in (self.values, self.transform, self.reference)) > 1:
            raise ValueError("use at most one of values, transform, reference")
        return self

    @property
    def inbound(self) -> bool:
        return self.direction is not Direction.OUTBOUND

    @property
    def outbound(self) -> bool:
        return self.direction is not Direction.INBOUND


class MappingSpec(BaseModel):
    """How one system's object maps to one canonical entity, in both directions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    object: str = Field(min_length=1, description="the system's object name, e.g. Account, party.party")
    entity: str
    version: int = Field(ge=1)
    external_id: str = Field(description="native field holding the system's record id")
    fields: list[FieldMapping] = Field(min_length=1)
    ignore: list[str] = Field(default_factory=list, description="native fields accepted inbound, not mapped")
    create_defaults: dict[str, Any] = Field(default_factory=dict, description="native values sent on create")
    tenant: str | None = Field(default=None, validate_default=True, description=(
        "the tenant this spec overrides the hub-wide one for; implied by the file's folder "
        "(mappings/tenants/<tenant>/), None for a hub-wide spec"))

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, entity: str, info: ValidationInfo) -> str:
        if entity not in ENTITY_TYPES:
            raise ValueError(f"unknown entity {entity!r}; known: {', '.join(sorted(ENTITY_TYPES))}")
        if isinstance(info.context, dict):
            info.context["entity"] = entity
        return entity

    @field_validator("tenant")
    @classmethod
    def _tenant_of_folder(cls, tenant: str | None, info: ValidationInfo) -> str | None:
        # A loader says where the file lies: "folder_tenant" None for mappings/*.yaml, the folder's name for
        # mappings/tenants/<tenant>/*.yaml. Without it (a proposal's body) the caller decides.
        context = info.context if isinstance(info.context, dict) else {}
        if "folder_tenant" not in context:
            return tenant
        folder = context["folder_tenant"]
        if folder is None and tenant is not None:
            raise ValueError("a hub-wide mapping names no tenant; put a tenant's override under "
                             f"mappings/tenants/{tenant}/")
        if folder is not None and tenant not in (None, folder):
            raise ValueError(f"names tenant {tenant!r} but lies under mappings/tenants/{folder}/")
        return folder if folder is not None else tenant

    @model_validator(mode="after")
    def _fields_exist(self) -> MappingSpec:
        catalog = field_catalog(self.entity)
        seen_native: set[str] = set()
        for i, fm in enumerate(self.fields):
            if fm.canonical not in catalog:
                raise Located(("fields", i, "canonical"), f"{fm.canonical!r} is not a field of {self.entity}")
            if fm.inbound and fm.native in seen_native:
                raise Located(("fields", i, "native"), f"{fm.native!r} is mapped inbound twice")
            if fm.inbound:
                seen_native.add(fm.native)
        return self

    @property
    def label(self) -> str:
        """The mapping version every applied change records; a tenant's override says whose it is
        (`salesforce/account[acme]@2`), so change_log tells an override's version from the hub-wide one's."""
        if self.tenant is not None:
            return f"{self.system}/{self.entity}[{self.tenant}]@{self.version}"
        return f"{self.system}/{self.entity}@{self.version}"
