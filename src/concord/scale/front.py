"""The API's front door in scale mode (`CONCORD_SCALE=true`): an accepted change is published to the partitioned
JetStream stream and the caller hears 202 only once JetStream acknowledged it — i.e. once the stream's replicas
hold it (decision 064, "durable before acknowledged"). The worker owning the change's partition applies it.

Validation is the same `prepare()` the worker runs, so a bad change is refused here (422) and never queued.
A publish that cannot be acknowledged (NATS away longer than the patience) fails the request (503): nothing was
promised, the client retries, and the stream's duplicate window plus the change log's idempotency key make the
retry harmless.
"""

from __future__ import annotations

from sqlalchemy import Engine

from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangeQueued
from concord.ingest.service import prepare_all
from concord.scale.bus import ChangeBus
from concord.scale.partitions import change_partition
from concord.scale.settings import ScaleSettings
from concord.security.mapping_sync import sync_engine as sync_mappings

PUBLISH_PATIENCE_S = 10.0


class BusUnavailable(RuntimeError):
    """JetStream did not acknowledge the publish in time: nothing was accepted."""


class ScaleFront:
    def __init__(self, runtime: Runtime, bus: ChangeBus, settings: ScaleSettings, engine: Engine | None = None
                 ) -> None:
        self.runtime = runtime
        self.bus = bus
        self.partitions = settings.partitions
        self.engine = engine  # where activated mapping versions are looked up (this process never commits)

    @classmethod
    def open(cls, runtime: Runtime, settings: ScaleSettings, engine: Engine | None = None) -> ScaleFront:
        """Connect and check the stream (a clear ScaleConfigError when NATS is unreachable)."""
        bus = ChangeBus(settings)
        try:
            bus.ensure_stream()
        except Exception:
            bus.close()
            raise
        return cls(runtime, bus, settings, engine)

    def submit(self, changes: list[ChangeCreate]) -> list[ChangeQueued | ChangeError]:
        """Validate, publish the valid ones and wait for their acknowledgements (blocking: run off the loop)."""
        if self.engine is not None:  # validate with the mapping versions the workers will map with (#8)
            sync_mappings(self.engine, self.runtime)
        _, errors = prepare_all(self.runtime, changes)
        valid = [c for i, c in enumerate(changes) if i not in errors]
        try:
            seqs = iter(self.bus.publish(valid, patience_s=PUBLISH_PATIENCE_S))
        except Exception as exc:
            raise BusUnavailable(f"the change bus did not acknowledge the publish: {type(exc).__name__}") from exc
        out: list[ChangeQueued | ChangeError] = []
        for i, change in enumerate(changes):
            if i in errors:
                out.append(errors[i])
                continue
            out.append(ChangeQueued(tenant=change.tenant, idempotency_key=change.idempotency_key,
                                    partition=change_partition(change, self.partitions), stream_seq=next(seqs)))
        return out

    def close(self) -> None:
        self.bus.close()
