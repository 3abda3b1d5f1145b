"""Outbound delivery in scale mode: each worker delivers the commands of the partitions it holds, through
connectors whose rate governors share one store (Redis) across workers.

Commands are partitioned by their golden record (`command_partition`), so one worker at a time delivers a
customer's commands, in outbox order. A takeover can repeat the command a killed worker was sending; creates
carry the record's id as idempotency key and updates the causing change's, which is what the connectors'
exactly-once writes rely on (at-least-once call, once effect).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import Engine, text

from concord.connectors.base import Connector
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.governor_store import GovernorStore, InMemoryGovernorStore
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.residency import Residency
from concord.delivery.store import DeliveryStore, PendingCommand
from concord.scale.partitions import command_partition_sql
from concord.scale.settings import ScaleConfigError

log = logging.getLogger(__name__)


class PartitionedDeliveryStore(DeliveryStore):
    """`pending` narrowed to the commands of the partitions `owned()` names (PostgreSQL only)."""

    def __init__(self, engine: Engine, partitions: int, owned: Callable[[], list[int]]) -> None:
        super().__init__(engine)
        self.partitions = partitions
        self.owned = owned

    def pending(self, limit: int) -> list[PendingCommand]:
        owned = self.owned()
        if not owned:
            return []
        part = command_partition_sql("canonical_id", self.partitions)
        sql = text("SELECT seq, tenant, target, entity, canonical_id, attempts, next_attempt_at, payload, message_id,"
                   " correlation_id FROM outbox WHERE kind = 'command' AND published_at IS NULL AND failed_at IS NULL"
                   f" AND {part} = ANY(:owned) ORDER BY seq LIMIT :limit")
        with self.engine.connect() as conn:
            rows = conn.execute(sql, {"owned": owned, "limit": limit}).all()
        return [PendingCommand(r.seq, r.tenant, r.target, r.entity, r.canonical_id, r.attempts, r.next_attempt_at,
                               orjson.loads(r.payload), r.message_id, r.correlation_id) for r in rows]


def _hubspot(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
    from concord.connectors.hubspot.client import governed_limit, header_rules
    from concord.connectors.hubspot.config import SYSTEM

    cfg = HubSpotConfig.model_validate(config)
    governor = RateGovernor({SYSTEM: governed_limit(cfg)}, store=store, header_rules=header_rules(cfg))
    return HubSpotConnector(cfg, governor=governor)


def _zendesk(config: dict[str, Any], store: GovernorStore) -> Connector:
    from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
    from concord.connectors.zendesk.config import INCREMENTAL_SYSTEM, SYSTEM

    cfg = ZendeskConfig.model_validate(config)
    governor = RateGovernor({SYSTEM: cfg.rate_limit, INCREMENTAL_SYSTEM: cfg.incremental_rate_limit}, store=store)
    return ZendeskConnector(cfg, governor=governor)


BUILDERS: dict[str, Callable[[dict[str, Any], GovernorStore], Connector]] = {
    "hubspot": _hubspot, "zendesk": _zendesk}


def load_connectors(path: Path, store: GovernorStore | None = None) -> dict[str, Connector]:
    """`systems: {<name>: {connector: hubspot|zendesk, config: {...}}}` — the connector settings of a worker."""
    return load_targets(path, store)[0]


def _build(path: Path, where: str, kind: str, config: Any, shared: GovernorStore) -> Connector:
    try:
        return BUILDERS[kind](dict(config or {}), shared)
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


class DeliveryLoop:
    """Runs the dispatcher over the held partitions on its own thread until stopped."""

    def __init__(self, dispatcher: CommandDispatcher, idle_s: float = 0.2) -> None:
        self.dispatcher = dispatcher
        self.idle_s = idle_s
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="concord-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.dispatcher.run_once()
            except Exception:  # a database hiccup: try again shortly
                log.warning("delivery round failed", exc_info=True)
                self._stop.wait(1.0)
                continue
            self.delivered += report.delivered
            if report.delivered == 0:
                self._stop.wait(self.idle_s)


def connectors_close(connectors: Mapping[str, Connector]) -> None:
    for connector in connectors.values():
        close = getattr(connector, "close", None)
        if callable(close):
            close()
