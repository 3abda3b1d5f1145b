"""Which systems a workflow runtime talks to, and how: the one connections format, shared with `concord worker
--connectors` (deploy/connectors.yaml.example, `concord.scale.connectors`) and `concord reconcile` / `backfill`
(`concord.reconciliation.connectors`, decision 082), regional endpoints included:

    systems:
      tryton:
        connector: tryton
        region: eu                      # the region of this (default) endpoint; optional
        config: {url: ..., database: ..., password_ref: "env:TRYTON_PASSWORD", company_id: 1}
        endpoints:                      # further endpoints, one per region
          - {region: us, config: {url: ..., database: ..., company_id: 1}}

A tenant pinned to a region (concord.yaml `region:`) is only ever sent to that region's endpoint, by the outbox
and by workflow steps alike (docs/decisions/057 and 072).

Deprecated: the flat format (`salesforce: {...}`, `tryton: {...}` at the top level, one endpoint per system, no
regions). It still loads, converted here — the one place — into the `systems:` form, and a warning says so.
Every system is optional: a runtime without a system cannot run the steps that need it (they fail loudly).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from concord.connectors.base import Connector
from concord.connectors.hubspot.config import HubSpotConfig
from concord.connectors.runtime.governor_store import GovernorStore
from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from concord.connectors.scim import ScimConfig, ScimConnector
from concord.connectors.stripe import StripeConfig, StripeConnector
from concord.connectors.tryton import TrytonConfig, TrytonConnector
from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
from concord.delivery.residency import Residency
from concord.yamlconf import ConfigError, Located, load_yaml_file, parse_yaml, validate_yaml

log = logging.getLogger("concord.workflows.connections")

Kind = Literal["salesforce", "hubspot", "tryton", "stripe", "zendesk", "scim", "tryton_invoices", "stripe_invoices"]
# a read-only invoice feed (decision 049) takes its parent connector's config and is ingested as its system
FEED_PARENTS: dict[str, str] = {"tryton_invoices": "tryton", "stripe_invoices": "stripe"}


def _config_model(kind: str) -> type[BaseModel]:
    kind = FEED_PARENTS.get(kind, kind)
    models: dict[str, type[BaseModel]] = {"salesforce": SalesforceConfig, "hubspot": HubSpotConfig,
                                          "tryton": TrytonConfig, "stripe": StripeConfig, "zendesk": ZendeskConfig,
                                          "scim": ScimConfig}
    return models[kind]


def _check_config(kind: str, config: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    """The endpoint's config against its connector's model; the first problem named by its field (and line)."""
    try:
        _config_model(kind).model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Located((*loc, *first["loc"]), first["msg"].removeprefix("Value error, ")) from None


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)


class CaptureEntry(BaseModel):
    """One object the sync loop polls for changes (decision 078): the system's `object`, ingested as `entity`
    for `tenant` every `every_s` seconds. Whether the mapping set and the connector allow it is checked when the
    loop is planned (`concord.delivery.loop.plan_captures`), where the runtime and the connectors are known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object: str = Field(min_length=1, max_length=64)
    entity: str = Field(min_length=1, max_length=64)
    tenant: str = Field(default="default", min_length=1, max_length=64)
    every_s: float = Field(default=30.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _known_entity(self) -> CaptureEntry:
        from concord.canonical.models import ENTITY_TYPES

        if self.entity not in ENTITY_TYPES:
            raise Located(("entity",), f"unknown entity {self.entity!r}; one of {sorted(ENTITY_TYPES)}")
        return self


class SystemEntry(BaseModel):
    """One system: its connector, its default endpoint's config (and region), and endpoints in other regions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: Kind
    # the system its records are ingested as: the mapping set's and the bindings' key (default: the entry's
    # name). An invoice feed entry (`erp_invoices`) says `system: tryton`, so its invoices map with the Tryton
    # invoice mapping and their parties resolve through Tryton's bindings
    system: str | None = Field(default=None, min_length=1, max_length=64)
    region: str | None = Field(default=None, min_length=1, max_length=32)
    config: dict[str, Any] = Field(default_factory=dict)
    endpoints: list[Endpoint] = Field(default_factory=list)
    capture: list[CaptureEntry] = Field(default_factory=list)  # absent: nothing captured from this system

    @model_validator(mode="after")
    def _configs_valid(self) -> SystemEntry:
        _check_config(self.connector, self.config, ("config",))
        seen = {self.region} if self.region else set()
        for i, endpoint in enumerate(self.endpoints):
            if endpoint.region in seen:
                raise Located(("endpoints", i, "region"), f"a second endpoint in region {endpoint.region!r}")
            seen.add(endpoint.region)
            _check_config(self.connector, endpoint.config, ("endpoints", i, "config"))
        return self


class SystemsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    systems: dict[str, SystemEntry]

    @model_validator(mode="after")
    def _ingested_as_its_kind(self) -> SystemsFile:
        """`system:` may name only a system of the same vendor: a feed ingested as another vendor's records would
        resolve its references through that vendor's bindings (wrong customers, silently)."""
        for name, entry in self.systems.items():
            if entry.system is None:
                continue
            parent = FEED_PARENTS.get(entry.connector, entry.connector)
            other = self.systems.get(entry.system)
            named = other.connector if other is not None else entry.system
            if entry.system != name and FEED_PARENTS.get(named, named) != parent:
                raise Located(("systems", name, "system"), f"{entry.connector} records cannot be ingested as "
                              f"{entry.system!r} (a {named} system); name a {parent} system")
        return self


def ingest_system(name: str, entry: Mapping[str, Any]) -> str:
    """The system an entry's captured records are ingested as (its `system:`, else its name)."""
    return str(entry.get("system") or name)


class Connections(BaseModel):
    """The deprecated flat format: one section per system, named after its connector, no regions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    salesforce: SalesforceConfig | None = None
    # the flat files of `concord reconcile --connectors` named HubSpot too; they convert like the others
    hubspot: HubSpotConfig | None = None
    tryton: TrytonConfig | None = None
    stripe: StripeConfig | None = None
    zendesk: ZendeskConfig | None = None
    scim: ScimConfig | None = None

    @classmethod
    def load(cls, path: Path) -> Connections:
        return load_yaml_file(cls, path)

    def build(self) -> dict[str, Connector]:
        """One connector per configured system (nothing connects until the first call, except SCIM's
        feature discovery, which asks the provider what it supports). Kept for callers of the flat format that
        hold it as a model; files go through `load_connections`."""
        built: dict[str, Connector] = {}
        if self.salesforce is not None:
            built["salesforce"] = SalesforceConnector(self.salesforce)
        if self.hubspot is not None:
            from concord.connectors.hubspot import HubSpotConnector

            built["hubspot"] = HubSpotConnector(self.hubspot)
        if self.tryton is not None:
            built["tryton"] = TrytonConnector(self.tryton)
        if self.stripe is not None:
            built["stripe"] = StripeConnector(self.stripe)
        if self.zendesk is not None:
            built["zendesk"] = ZendeskConnector(self.zendesk)
        if self.scim is not None:
            built["scim"] = ScimConnector(self.scim).discover()
        return built


def flat_as_systems(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The deprecated flat document in the `systems:` form (each section's connector is its name)."""
    return {"systems": {name: {"connector": name, "config": dict(config or {})} for name, config in flat.items()}}


def read_connections(path: Path, warn: bool = True) -> dict[str, Any]:
    """The file validated — each problem as `file:line: field: message` — and in the `systems:` form. Builds
    nothing (so it calls no system). Raises ConfigError. `warn`: log that a flat file is deprecated (once per
    start: the start-up check passes False, the load that follows says it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    data, _ = parse_yaml(text, str(path))
    if isinstance(data, dict) and "systems" in data:
        validate_yaml(SystemsFile, text, str(path))
        return data
    validate_yaml(Connections, text, str(path))
    if warn:
        log.warning("%s uses the deprecated flat connections format; move its sections under `systems:` "
                    "(`<name>: {connector: <name>, config: {...}}`, docs/decisions/072)", path)
    return flat_as_systems(data if isinstance(data, dict) else {})


@dataclass(frozen=True)
class Targets:
    """What a runtime may call: the default endpoint per system and the residency rules over regional ones."""

    default: dict[str, Connector]
    residency: Residency

    def endpoints(self) -> dict[str, Connector]:
        """Every endpoint once: the default as its system, the others as `system@region`."""
        return self.residency.named_endpoints(self.default)

    def close(self) -> None:
        for connector in self.endpoints().values():
            close = getattr(connector, "close", None)
            if callable(close):
                close()


def load_connections(path: Path, tenant_regions: Mapping[str, str] | None = None,
                     store: GovernorStore | None = None) -> Targets:
    """Build the connectors of a connections file (either format) through the scale worker's builders, so both
    runtimes govern and configure them alike. Raises ConfigError (a bad file) or ScaleConfigError (a system
    that refused its set-up, e.g. SCIM discovery)."""
    from concord.scale.connectors import targets_from

    default, residency = targets_from(read_connections(path), path, store, tenant_regions)
    return Targets(default, residency)
