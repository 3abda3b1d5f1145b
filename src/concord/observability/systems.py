"""The configured systems, seen by operations: readiness probes and rate-limit headroom of each connector a
process holds (`concord serve --connections`, the workflow and scale workers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from concord.connectors.base import Connector
from concord.connectors.runtime.governed import governed_keys
from concord.observability.headroom import HeadroomSampler
from concord.observability.health import system_probes

if TYPE_CHECKING:
    from concord.observability.install import OpsState


def load_connectors(path: Path | None) -> dict[str, Connector]:
    """Every endpoint of a connections file (`workflows.connections`), regional ones as `system@region`; none
    without a file."""
    if path is None:
        return {}
    from concord.workflows.connections import load_connections  # the workflow layer owns the file's format

    return load_connections(path).endpoints()


def watch_systems(ops: OpsState, engine: Engine, connectors: Mapping[str, Connector],
                  every_s: float) -> HeadroomSampler:
    """Probe each connector in /readyz, export its governor keys, and sample their headroom into the series
    the dashboard charts. Returns the started sampler (it samples nothing when no connector is governed)."""
    ops.probes.update(system_probes(connectors))
    ops.metrics.headroom.watch_all(governed_keys(connectors.values()))
    sampler = HeadroomSampler(engine, ops.metrics.headroom.watched, every_s)
    return sampler.start() if ops.metrics.headroom.watched() else sampler


def start_sampler(engine: Engine, connectors: Mapping[str, Connector], every_s: float) -> HeadroomSampler:
    """For processes without a console (workers): sample the connectors' governor keys every `every_s`."""
    keys = governed_keys(connectors.values())
    sampler = HeadroomSampler(engine, lambda: keys, every_s)
    return sampler.start() if keys else sampler
