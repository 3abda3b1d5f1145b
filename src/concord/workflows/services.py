"""What steps need from the outside world, passed in once when the engine is built (never read at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from concord.connectors.base import Connector
from concord.events.registry import SchemaRegistry
from concord.hubconfig import Runtime
from concord.policy.store import PolicyStore, policy_path
from concord.workflows.duplicates import DuplicateCheck, MatcherDuplicateCheck
from concord.workflows.faults import FaultHook


class MissingConnector(LookupError):
    """A step needs a system this worker has no connector for (a configuration error, not a transient one)."""


@dataclass
class WorkflowServices:
    engine: Engine  # the Concord database: golden records, bindings, outbox, tasks
    runtime: Runtime
    connectors: dict[str, Connector]
    policy: PolicyStore
    duplicates: DuplicateCheck
    events: SchemaRegistry
    faults: FaultHook = field(default_factory=FaultHook)

    def connector(self, system: str) -> Connector:
        found = self.connectors.get(system)
        if found is None:
            raise MissingConnector(f"no connector configured for {system!r}")
        return found


def standard_services(engine: Engine, runtime: Runtime, connectors: dict[str, Connector],
                      config_dir: Path | None) -> WorkflowServices:
    """The production wiring: policy from the config folder, the online matcher as duplicate check, the event catalogue,
    and the crash hook only when its environment variable is set."""
    return WorkflowServices(engine=engine, runtime=runtime, connectors=connectors,
                            policy=PolicyStore(policy_path(config_dir)), duplicates=MatcherDuplicateCheck(engine),
                            events=SchemaRegistry.default(), faults=FaultHook.from_env())
