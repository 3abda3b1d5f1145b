"""The connectors a `concord worker` delivers to, built from its connections file (`--connectors`).

    systems:
      <system name>:                      # the outbox's target name (salesforce, hubspot, tryton, ...)
        connector: salesforce|hubspot|tryton|stripe|zendesk|scim
        config: {...}                     # that connector's own config model, validated here

Every connector that governs its calls gets a `RateGovernor` on the one shared store (Redis in a deployment,
decision 062), so N workers spend one vendor allowance. Tryton is self-hosted and has no vendor limit. A file
that names an unknown connector or holds an invalid config refuses the worker's start with the field's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from concord.connectors.base import Connector, ConnectorError
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.governor_store import GovernorStore, InMemoryGovernorStore
from concord.scale.settings import ScaleConfigError

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


def _tryton(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.tryton import TrytonConfig, TrytonConnector

    return TrytonConnector(TrytonConfig.model_validate(config))


def _stripe(config: dict[str, Any], store: GovernorStore) -> Connector:
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
                                "stripe": _stripe, "zendesk": _zendesk, "scim": _scim}


def load_connectors(path: Path, store: GovernorStore | None = None) -> dict[str, Connector]:
    """One connector per entry of `systems:`; errors name the file and the offending field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScaleConfigError(f"connectors file {path}: {exc}") from exc
    systems = raw.get("systems") if isinstance(raw, dict) else None
    if not isinstance(systems, dict):
        raise ScaleConfigError(f"{path}: expected a mapping `systems:`")
    shared = store or InMemoryGovernorStore()
    built: dict[str, Connector] = {}
    for name, spec in systems.items():
        kind = spec.get("connector") if isinstance(spec, dict) else None
        if kind not in BUILDERS:
            raise ScaleConfigError(f"{path}: systems.{name}.connector must be one of {sorted(BUILDERS)}")
        try:
            built[str(name)] = BUILDERS[kind](dict(spec.get("config") or {}), shared)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ScaleConfigError(f"{path}: systems.{name}.config.{where}: {first['msg']}") from exc
        except ValueError as exc:
            raise ScaleConfigError(f"{path}: systems.{name}.config: {exc}") from exc
    return built


def connectors_close(connectors: Mapping[str, Connector]) -> None:
    for connector in connectors.values():
        close = getattr(connector, "close", None)
        if callable(close):
            close()
