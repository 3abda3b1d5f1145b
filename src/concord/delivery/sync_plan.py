"""Planning the sync loop from a connections file (decision 078): the connectors it delivers to, and the
`capture:` entries checked against what the hub and each connector can do, before anything starts.

    systems:
      salesforce:
        connector: salesforce
        config: {...}
        capture:                          # optional; absent: nothing is captured from this system
          - {object: Account, entity: account, tenant: default, every_s: 30}
      erp_invoices:                       # a read-only invoice feed (decision 049), its parent's config
        connector: tryton_invoices
        system: tryton                    # ingested as Tryton's records: Tryton's invoice mapping and bindings
        config: {...}
        capture: [{object: invoice, entity: invoice, every_s: 60}]

A capture needs a mapping for (system, entity) in the mapping set, an object the connector serves, and a
connector whose `Capabilities` declare an incremental cursor; the core reads capabilities, never vendor names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from concord.connectors.base import Connector
from concord.delivery.loop import CaptureSpec, SyncLoop
from concord.delivery.residency import ResidencyRefused
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.workflows.connections import Targets, ingest_system
from concord.yamlconf import ConfigError, Loc, parse_yaml


@dataclass
class SyncPlan:
    """Built connectors (closed by `hosted_sync`) and the validated captures."""

    targets: Targets
    captures: list[CaptureSpec]


def _problem(spec: Mapping[str, Any], system: str, targets: Targets, runtime: Runtime,
             mapped_as: str) -> tuple[str, str] | None:
    """(field, message) of the first thing that stops this capture (read from entry `system`, mapped and bound as
    `mapped_as`), or None."""
    tenant = str(spec.get("tenant", "default"))
    if tenant not in runtime.hub.tenants:
        return "tenant", f"unknown tenant {tenant!r} (tenants of concord.yaml: {sorted(runtime.hub.tenants)})"
    try:  # a pinned tenant is captured from its region's endpoint only, as it is delivered to (decision 072)
        connector = capture_connector(targets, tenant, system)
    except ResidencyRefused as refused:
        return "tenant", str(refused)
    caps = connector.capabilities
    if caps.cursor_field is None:
        return "object", "this connector has no incremental cursor (Capabilities.cursor_field) to capture with"
    if spec["object"] not in caps.objects:
        return "object", f"{spec['object']!r} is not one of the connector's objects {list(caps.objects)}"
    if runtime.mappings.get(mapped_as, str(spec["entity"]), tenant) is None:
        hint = "" if mapped_as != system else " (an entry ingested as another system's records says `system:`)"
        return "entity", f"the mapping set has no mapping for system {mapped_as!r} entity {spec['entity']!r}{hint}"
    return None


def capture_connector(targets: Targets, tenant: str, system: str) -> Connector:
    """The endpoint `tenant`'s capture of `system` reads: its region's for a pinned tenant (ResidencyRefused when
    there is none: reading another region's endpoint would pull other tenants' records in as this tenant's)."""
    found = targets.residency.connector(tenant, system, targets.default)
    if found is None:
        raise ResidencyRefused(f"no connector for {system!r}")
    return found


def plan_captures(raw: Mapping[str, Any], path: Path, runtime: Runtime, targets: Targets,
                  lines: Mapping[Loc, int] | None = None) -> list[CaptureSpec]:
    """The `capture:` entries of an already validated `systems:` document; ConfigError naming file (and line,
    given the parse's `lines`) and field, in the connections file's own `capture[0].entity` notation."""
    problems: list[str] = []
    captures: list[CaptureSpec] = []
    for system, entry in (raw.get("systems") or {}).items():
        mapped_as = ingest_system(str(system), entry)
        for i, spec in enumerate(entry.get("capture") or []):
            found = _problem(spec, str(system), targets, runtime, mapped_as)
            if found is not None:
                loc: Loc = ("systems", system, "capture", i, found[0])
                line = (lines or {}).get(loc) or (lines or {}).get(loc[:-1])
                where = f"{path}:{line}" if line else str(path)
                problems.append(f"{where}: systems.{system}.capture[{i}].{found[0]}: {found[1]}")
                continue
            captures.append(CaptureSpec(str(system), str(spec["object"]), str(spec["entity"]),
                                        str(spec.get("tenant", "default")), float(spec.get("every_s", 30.0)),
                                        mapped_as if mapped_as != system else None))
    if problems:
        raise ConfigError(problems)
    return captures


def plan_sync(path: Path, runtime: Runtime) -> SyncPlan:
    """Build the file's connectors and check its captures. Raises ConfigError (a bad file or capture) or
    ScaleConfigError (a system that refused its set-up, e.g. SCIM discovery)."""
    from concord.delivery.residency import tenant_regions
    from concord.workflows.connections import load_connections, read_connections

    raw = read_connections(path, warn=False)
    _, lines = parse_yaml(path.read_text(encoding="utf-8"), str(path))  # only for the line of a refused capture
    targets = load_connections(path, tenant_regions(runtime.hub.tenants))
    try:
        return SyncPlan(targets, plan_captures(raw, path, runtime, targets, lines))
    except ConfigError:
        targets.close()
        raise


@contextmanager
def hosted_sync(plan: SyncPlan, engine: Engine, ingest: IngestService, idle_s: float = 0.2,
                own_targets: bool = True) -> Iterator[SyncLoop]:
    """The running loop over `engine`; stopped, and the plan's connectors closed on exit unless another user
    of the same connectors (the served workflow runtime) closes them later (`own_targets=False`)."""
    loop = SyncLoop(DeliveryStore(engine), ingest, plan.targets.default, plan.captures,
                    plan.targets.residency, idle_s)
    try:
        with loop:
            yield loop
    finally:
        if own_targets:
            plan.targets.close()
