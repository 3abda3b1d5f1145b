"""Connectors for the operational commands (`concord reconcile`, `concord backfill`), from a YAML file that maps
each system to its connector's own config model, e.g.

    salesforce: {login_url: "https://acme.my.salesforce.com", client_id: "...", client_secret: "..."}
    tryton: {url: "http://erp:8000", database: "prod", user: "concord", password: "...", company_id: 1}

Secrets belong in the file's permissions or a secret store (issue #8); nothing here logs them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from concord.connectors.base import Connector
from concord.yamlconf import ConfigError


def _factories() -> dict[str, tuple[type[BaseModel], Callable[[Any], Connector]]]:
    from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
    from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
    from concord.connectors.scim import ScimConfig, ScimConnector
    from concord.connectors.stripe import StripeConfig, StripeConnector
    from concord.connectors.tryton import TrytonConfig, TrytonConnector
    from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector

    return {"salesforce": (SalesforceConfig, SalesforceConnector), "hubspot": (HubSpotConfig, HubSpotConnector),
            "tryton": (TrytonConfig, TrytonConnector), "stripe": (StripeConfig, StripeConnector),
            "zendesk": (ZendeskConfig, ZendeskConnector), "scim": (ScimConfig, ScimConnector)}


def connector_for(path: Path, system: str) -> Connector:
    """The connector of `system` configured in `path`; ConfigError names the file and the field at fault."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: {exc}"]) from exc
    factories = _factories()
    if system not in factories:
        raise ConfigError([f"unknown system {system!r}; known: {', '.join(sorted(factories))}"])
    if not isinstance(raw, dict) or system not in raw:
        raise ConfigError([f"{path}: no section {system!r}"])
    config_model, make = factories[system]
    try:
        config = config_model.model_validate(raw[system])
    except ValidationError as exc:
        problems = [f"{path}: {system}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(problems) from exc
    return make(config)
