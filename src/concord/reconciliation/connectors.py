"""The connector `concord reconcile` / `concord backfill` read, from the one connections file (decision 072):

    systems:
      tryton:        {connector: tryton, config: {...}, endpoints: [{region: us, config: {...}}]}
      erp_invoices:  {connector: tryton_invoices, system: tryton, config: {...}}

`--system` names the system records are mapped and bound as (the mapping set's key). The entry read for it is
the one ingested as that system (its name, or its `system:`) whose kind serves the entity: an invoice feed
(`tryton_invoices`, `stripe_invoices`) for invoices, the system's own connector for anything else. Naming the
entry itself (`--system erp_invoices`) works too. Only that entry is built, through the sync loop's builders
(`concord.scale.connectors.targets_from`), so `secret:`/`*_ref` references and rate governors apply as they do
there, and no other system of the file is called (SCIM discovery, say). A tenant pinned to a region reads its
region's endpoint only, as capture does (decision 078): another region's endpoint would bring other tenants'
records in as this tenant's.

Deprecated: the flat file (`tryton: {...}` at the top level) converts as `read_connections` does, and the
`--connectors` option / CONCORD_CONNECTORS_FILE still name the file; the command says so once on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from concord.connectors.base import Connector
from concord.delivery.residency import ResidencyRefused
from concord.workflows.connections import FEED_PARENTS, Targets, ingest_system, read_connections
from concord.yamlconf import ConfigError, parse_yaml

FEED_ENTITIES = frozenset({"invoice"})  # what the read-only feeds serve (decision 049)


@dataclass
class Source:
    """The connector to read, the entry it came from, and the system its records map and bind as."""

    entry: str
    system: str
    connector: Connector
    targets: Targets
    flat: bool  # the file is in the deprecated flat format

    def close(self) -> None:
        self.targets.close()


def is_flat(path: Path) -> bool:
    """True for a readable file in the deprecated flat format (no `systems:` key)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return not (isinstance(data, dict) and "systems" in data)


def _where(path: Path, name: str) -> str:
    """`file:line` of an entry (the file alone when its line cannot be told, e.g. a converted flat file)."""
    try:
        _, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ConfigError):
        return str(path)
    line = lines.get(("systems", name)) or lines.get((name,))
    return f"{path}:{line}" if line else str(path)


def pick_entry(systems: Mapping[str, Any], path: Path, system: str, entity: str) -> str:
    """The entry to read for `system`'s `entity` records; ConfigError naming the file and what is missing."""
    named = systems.get(system)
    if isinstance(named, dict) and ingest_system(system, named) != system:
        return system  # the entry itself was named (`--system erp_invoices`)
    want_feed = entity in FEED_ENTITIES
    fitting = [name for name, entry in systems.items() if ingest_system(str(name), entry) == system
               and (entry.get("connector") in FEED_PARENTS) == want_feed]
    if len(fitting) == 1:
        return str(fitting[0])
    if not fitting:
        hint = (f"an invoice feed entry, e.g. `{system}_invoices: {{connector: {system}_invoices, system: {system},"
                f" config: {{...}}}}`" if want_feed else f"`{system}: {{connector: {system}, config: {{...}}}}`")
        raise ConfigError([f"{path}: systems: no entry reads {system!r} {entity} records; add {hint}"])
    if system in fitting:
        return system
    raise ConfigError([f"{_where(path, str(fitting[1]))}: systems.{fitting[1]}: a second entry reads {system!r} "
                       f"{entity} records (also {fitting[0]!r}); name the entry with --system"])


def open_source(path: Path, system: str, entity: str, tenant: str,
                tenant_regions: Mapping[str, str] | None = None) -> Source:
    """Build the connector `system`'s `entity` records are read through, for `tenant`. Raises ConfigError (a bad
    file, no fitting entry), ScaleConfigError (a system that refused its set-up) or ResidencyRefused."""
    from concord.delivery.sync_plan import capture_connector
    from concord.scale.connectors import targets_from

    flat = is_flat(path)
    raw = read_connections(path, warn=False)  # the caller says the flat format is deprecated, once
    systems: dict[str, Any] = raw.get("systems") or {}
    name = pick_entry(systems, path, system, entity)
    default, residency = targets_from({"systems": {name: systems[name]}}, path, None, tenant_regions)
    targets = Targets(default, residency)
    try:
        connector = capture_connector(targets, tenant, name)
    except ResidencyRefused:
        targets.close()
        raise
    return Source(name, ingest_system(name, systems[name]), connector, targets, flat)
