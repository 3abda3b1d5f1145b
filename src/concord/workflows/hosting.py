"""Hosting the workflow runtime in a process: one place that builds the connectors from a connections file,
launches the workflow engine (resuming unfinished runs) and runs the event-signal starter and the credit
waker beside it.

Both `concord workflows worker` and `concord serve --connections FILE` (CONCORD_CONNECTIONS) host workflows through
`hosted_workflows()`, so a plain API server answers `/api/v1/process/...` for real (see docs/decisions/070). The
file is in the scale worker's `systems:` format, regional endpoints included, and steps of a tenant pinned to a
region call only that region's endpoints (docs/decisions/072); the deprecated flat format still loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from concord.hubconfig import Runtime
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade
from concord.workflows.engine import WorkflowEngine, WorkflowSettings

if TYPE_CHECKING:
    from concord.workflows.connections import Targets


class NoConnections(ValueError):
    """Workflows were asked for without a connections file (neither --connections nor CONCORD_CONNECTIONS)."""


def connections_file(settings: Settings, override: Path | None = None) -> Path:
    path = override or settings.connections
    if path is None:
        raise NoConnections("--connections / CONCORD_CONNECTIONS: a connections file (YAML) is needed to run workflows")
    if not path.is_file():
        raise NoConnections(f"--connections / CONCORD_CONNECTIONS: no file {path}")
    from concord.workflows.connections import read_connections
    from concord.yamlconf import ConfigError

    try:  # a bad file is refused before anything starts (or calls any system), naming file, line and field
        read_connections(path, warn=False)
    except ConfigError as exc:
        raise NoConnections("\n".join(exc.problems)) from exc
    return path


@contextmanager
def hosted_workflows(settings: Settings, runtime: Runtime, connections: Path, poll_interval_s: float = 1.0,
                     targets: Targets | None = None) -> Iterator[WorkflowEngine]:
    """A launched engine with its connectors, signal starter and credit waker; all stopped on exit. Given
    `targets`, the steps use those connectors and the caller closes them (the served sync loop shares them, so
    one rate governor per vendor allowance spends it, not one per user)."""
    from concord.delivery.residency import tenant_regions
    from concord.workflows.connections import load_connections
    from concord.workflows.credit_signals import CreditSignalWaker
    from concord.workflows.lifecycle_processes import lifecycle_specs
    from concord.workflows.processes import process_specs
    from concord.workflows.services import standard_services
    from concord.workflows.signals import SignalStarter

    owned = targets is None
    if targets is None:
        targets = load_connections(connections, tenant_regions(runtime.hub.tenants))
    db = make_engine(settings.database_url, settings.sqlite_synchronous)
    try:
        upgrade(db)
        services = standard_services(db, runtime, targets.default, settings.config_dir, targets.residency)
        wf_settings = WorkflowSettings(database_url=settings.database_url,
                                       sqlite_synchronous=settings.sqlite_synchronous)
        specs = {**process_specs(), **lifecycle_specs()}  # every workflow imported before launch: runs resume
        with WorkflowEngine(wf_settings, services) as engine:
            starter = SignalStarter(engine, specs)
            starter.start(poll_interval_s)
            waker = CreditSignalWaker(engine)  # wakes runs paused on credit when a hold is released
            waker.start(poll_interval_s)
            try:
                yield engine
            finally:
                waker.stop()
                starter.stop()
    finally:
        if owned:
            targets.close()
        db.dispose()
