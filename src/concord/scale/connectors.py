"""The connectors a `concord worker` delivers to, built from its connections file (`--connectors`).

    systems:
      <system name>:                      # the outbox's target name (salesforce, hubspot, tryton, ...)
        connector: salesforce|hubspot|tryton|stripe|zendesk|scim|tryton_invoices|stripe_invoices
        config: {...}                     # that connector's own config model, validated here
        system: tryton                    # optional: the system its records are ingested as (default: its name)

`tryton_invoices` and `stripe_invoices` are the read-only invoice feeds (decision 049): each takes its parent
connector's config (Tryton's, Stripe's), builds that connector for itself and serves object "invoice" only;
it refuses every write, and nothing routes commands to it (the router targets mapped systems, see `system:`).

Every connector that governs its calls gets a `RateGovernor` on the one shared store (Redis in a deployment,
decision 062), so N workers spend one vendor allowance. Tryton is self-hosted and has no vendor limit. A file
that names an unknown connector or holds an invalid config refuses the worker's start with the field's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from concord.connectors.base import Connector, ConnectorError
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.governor_store import GovernorStore, InMemoryGovernorStore
from concord.delivery.residency import Residency
from concord.scale.settings import ScaleConfigError

if TYPE_CHECKING:
    from concord.connectors.stripe import StripeConnector
    from concord.connectors.tryton import TrytonConnector

Builder = Callable[[dict[str, Any], GovernorStore], Connector]


def _salesforce(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
    from concord.connectors.salesforce.client import rate_limit
    from concord.connectors.salesforce.config import SYSTEM

    cfg = SalesforceConfig.model_validate(config)
    return SalesforceConnector(cfg, governor=RateGovernor({SYSTEM: rate_limit(cfg)}, store=store))


def _hubspot(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
    from concord.connectors.hubspot.client import governed_limit, header_rules
    from concord.connectors.hubspot.config import SYSTEM

    cfg = HubSpotConfig.model_validate(config)
    governor = RateGovernor({SYSTEM: governed_limit(cfg)}, store=store, header_rules=header_rules(cfg))
    return HubSpotConnector(cfg, governor=governor)


def _tryton(config: dict[str, Any], store: GovernorStore) -> TrytonConnector:
    from concord.connectors.tryton import TrytonConfig, TrytonConnector

    return TrytonConnector(TrytonConfig.model_validate(config))


def _stripe(config: dict[str, Any], store: GovernorStore) -> StripeConnector:
    from concord.connectors.runtime.breaker import BreakerRegistry
    from concord.connectors.runtime.caller import ResilientCaller
    from concord.connectors.runtime.clock import SystemClock
    from concord.connectors.runtime.retry import Retrier
    from concord.connectors.stripe import StripeConfig, StripeConnector
    from concord.connectors.stripe.client import StripeClient
    from concord.connectors.stripe.config import SYSTEM

    cfg = StripeConfig.model_validate(config)
    clock = SystemClock()
    governor = RateGovernor({SYSTEM: cfg.effective_rate_limit()}, clock=clock, store=store)
    caller = ResilientCaller(Retrier(cfg.retry, clock=clock), BreakerRegistry(cfg.breaker, clock), governor)
    return StripeConnector(cfg, StripeClient(cfg, caller=caller))


def _tryton_invoices(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.tryton import TrytonConfig
    from concord.connectors.tryton.invoices import TrytonInvoiceFeed

    parent = _tryton(config, store)
    feed = TrytonInvoiceFeed(parent.client, TrytonConfig.model_validate(config).company_id)
    feed.owner = parent
    return feed


def _stripe_invoices(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.stripe.invoices import StripeInvoiceFeed

    parent = _stripe(config, store)
    feed = StripeInvoiceFeed(parent)
    feed.owner = parent
    return feed


def _zendesk(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
    from concord.connectors.zendesk.config import INCREMENTAL_SYSTEM, SYSTEM

    cfg = ZendeskConfig.model_validate(config)
    governor = RateGovernor({SYSTEM: cfg.rate_limit, INCREMENTAL_SYSTEM: cfg.incremental_rate_limit}, store=store)
    return ZendeskConnector(cfg, governor=governor)


def _scim(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.scim import ScimConfig, ScimConnector
    from concord.connectors.scim.config import SYSTEM

    cfg = ScimConfig.model_validate(config)
    limits = {SYSTEM: cfg.rate_limit} if cfg.rate_limit is not None else {}
    connector = ScimConnector(cfg, governor=RateGovernor(limits, store=store))
    try:  # what the provider supports (PATCH, bulk, ETags) decides how commands are sent, as in the workflows
        return connector.discover()
    except ConnectorError as exc:
        raise ScaleConfigError(f"SCIM provider at base_url={cfg.base_url} did not answer its feature discovery: "
                               f"{exc}") from exc


BUILDERS: dict[str, Builder] = {"salesforce": _salesforce, "hubspot": _hubspot, "tryton": _tryton,
                                "stripe": _stripe, "zendesk": _zendesk, "scim": _scim,
                                "tryton_invoices": _tryton_invoices, "stripe_invoices": _stripe_invoices}
# the connector whose config (and mapping system) a feed kind shares; any other kind is its own parent
FEED_PARENTS: dict[str, str] = {"tryton_invoices": "tryton", "stripe_invoices": "stripe"}


def load_connectors(path: Path, store: GovernorStore | None = None) -> dict[str, Connector]:
    """The default endpoint per system (see `load_targets`)."""
    return load_targets(path, store)[0]


def _build(path: Path, where: str, kind: str, config: Any, shared: GovernorStore) -> Connector:
    try:
        return BUILDERS[kind](dict(config or {}), shared)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ScaleConfigError(f"{path}: {where}.config.{field}: {first['msg']}") from exc
    except ValueError as exc:
        raise ScaleConfigError(f"{path}: {where}.config: {exc}") from exc


def _regional(path: Path, name: str, spec: dict[str, Any], kind: str, default: Connector,
              shared: GovernorStore) -> dict[str, Connector]:
    """A system's endpoints by region: the main one if it declares `region:`, plus each of `endpoints:`."""
    found: dict[str, Connector] = {}
    if spec.get("region"):
        found[str(spec["region"])] = default
    for i, endpoint in enumerate(spec.get("endpoints") or []):
        where = f"systems.{name}.endpoints.{i}"
        if not isinstance(endpoint, dict) or not endpoint.get("region"):
            raise ScaleConfigError(f"{path}: {where}.region: every extra endpoint needs its region")
        region = str(endpoint["region"])
        if region in found:
            raise ScaleConfigError(f"{path}: {where}.region: a second endpoint in region {region!r}")
        found[region] = _build(path, where, kind, endpoint.get("config"), shared)
    return found


def load_targets(path: Path, store: GovernorStore | None = None,
                 tenant_regions: Mapping[str, str] | None = None) -> tuple[dict[str, Connector], Residency]:
    """The default endpoint per system, and the residency rules over the regional ones. A system entry may say
    `region: eu` (the region of its endpoint) and list further endpoints: `endpoints: [{region: us, config:
    {...}}]`; a tenant pinned to a region (concord.yaml) is only ever delivered to that region's endpoint."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScaleConfigError(f"connectors file {path}: {exc}") from exc
    return targets_from(raw, path, store, tenant_regions)


def targets_from(raw: Any, path: Path, store: GovernorStore | None = None,
                 tenant_regions: Mapping[str, str] | None = None) -> tuple[dict[str, Connector], Residency]:
    """`load_targets` over an already parsed document (the workflow runtime converts its deprecated flat format
    into this one, so both build through the same builders)."""
    systems = raw.get("systems") if isinstance(raw, dict) else None
    if not isinstance(systems, dict):
        raise ScaleConfigError(f"{path}: expected a mapping `systems:`")
    shared = store or InMemoryGovernorStore()
    built: dict[str, Connector] = {}
    regional: dict[str, dict[str, Connector]] = {}
    for name, spec in systems.items():
        kind = spec.get("connector") if isinstance(spec, dict) else None
        if kind not in BUILDERS:
            raise ScaleConfigError(f"{path}: systems.{name}.connector must be one of {sorted(BUILDERS)}")
        built[str(name)] = _build(path, f"systems.{name}", kind, spec.get("config"), shared)
        regional[str(name)] = _regional(path, str(name), spec, kind, built[str(name)], shared)
    return built, Residency(dict(tenant_regions or {}), regional)


def connectors_close(connectors: Mapping[str, Connector]) -> None:
    for connector in connectors.values():
        close = getattr(connector, "close", None)
        if callable(close):
            close()
