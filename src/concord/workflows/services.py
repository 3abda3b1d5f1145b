"""What steps need from the outside world, passed in once when the engine is built (never read at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from concord.connectors.base import Connector
from concord.delivery.residency import Residency, ResidencyRefused, tenant_regions
from concord.events.registry import SchemaRegistry
from concord.hubconfig import Runtime
from concord.policy.store import PolicyStore, policy_path
from concord.workflows.duplicates import DuplicateCheck, MatcherDuplicateCheck
from concord.workflows.faults import FaultHook


class MissingConnector(LookupError):
    """A step needs a system this worker has no connector for (a configuration error, not a transient one)."""


class RegionRefused(ResidencyRefused):
    """A pinned tenant's step needs a system with no endpoint in the tenant's region. Raised instead of calling
    any other region's endpoint; the run turns it into an exception task (docs/decisions/072). Its arguments are
    its state, so it survives being pickled into the workflow journal and replayed."""

    def __init__(self, system: str, reason: str) -> None:
        super().__init__(system, reason)
        self.system = system
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass
class WorkflowServices:
    engine: Engine  # the Concord database: golden records, bindings, outbox, tasks
    runtime: Runtime
    connectors: dict[str, Connector]  # the default endpoint per system
    policy: PolicyStore
    duplicates: DuplicateCheck
    events: SchemaRegistry
    faults: FaultHook = field(default_factory=FaultHook)
    residency: Residency = field(default_factory=Residency)  # pinned tenants and the regional endpoints

    def connector(self, system: str, tenant: str) -> Connector:
        """The endpoint `tenant`'s step may call for `system`: its region's for a pinned tenant, else the
        default. Raises RegionRefused (never another region's endpoint) or MissingConnector."""
        try:
            found = self.residency.connector(tenant, system, self.connectors)
        except ResidencyRefused as refused:
            raise RegionRefused(system, str(refused)) from None
        if found is None:
            raise MissingConnector(f"no connector configured for {system!r}")
        return found

    def endpoints(self) -> dict[str, Connector]:
        """Every endpoint this runtime holds, regional ones as `system@region` (probes, headroom, closing)."""
        return self.residency.named_endpoints(self.connectors)

    def configured(self, system: str) -> bool:
        """Whether any endpoint of `system` exists (steps that skip an absent optional system ask this, then
        `connector`, so a pinned tenant is refused rather than skipped when only other regions have one)."""
        return system in self.connectors or bool(self.residency.regional.get(system))


def standard_services(engine: Engine, runtime: Runtime, connectors: dict[str, Connector],
                      config_dir: Path | None, residency: Residency | None = None) -> WorkflowServices:
    """The production wiring: policy from the config folder, the online matcher as duplicate check, the event catalogue,
    the crash hook only when its environment variable is set, and residency from concord.yaml's pinned tenants
    (without regional endpoints, a pinned tenant's steps are refused: nothing declares its region)."""
    rules = residency or Residency(tenant_regions(runtime.hub.tenants), {})
    return WorkflowServices(engine=engine, runtime=runtime, connectors=connectors,
                            policy=PolicyStore(policy_path(config_dir)), duplicates=MatcherDuplicateCheck(engine),
                            events=SchemaRegistry.default(), faults=FaultHook.from_env(), residency=rules)
