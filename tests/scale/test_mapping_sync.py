"""A running `concord worker` maps its next batch with a mapping version another process activated (#8), inbound
(`prepare` before the commit) and outbound (the router inside it), and the scale-mode API front validates with
it. Unit level: the worker's batch step and the front over a stand-in bus and lease fence, on SQLite; the NATS
and lease paths are the other scale tests' business."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, select

from concord.hubconfig import Runtime, load_runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangeQueued
from concord.scale.bus import BusMessage, ChangeBus
from concord.scale.front import ScaleFront
from concord.scale.leases import LeaseManager
from concord.scale.settings import ScaleSettings
from concord.scale.worker import Worker
from concord.security import proposals
from concord.storage.engine import make_engine, upgrade
from concord.storage.tables import change_log, outbox
from tests.security.test_tenant_mapping_changes import held_as_blocked


class _Bus:
    """Hands the worker the messages queued here, as one fetch."""

    def __init__(self) -> None:
        self.queued: list[BusMessage] = []
        self.acked: list[int] = []

    def fetch(self, max_batch: int) -> tuple[list[BusMessage], list[int]]:
        batch, self.queued = self.queued[:max_batch], self.queued[max_batch:]
        return batch, []

    def ack(self, partitions: list[int]) -> None:
        self.acked.extend(partitions)

    def publish(self, changes: list[ChangeCreate], patience_s: float) -> list[int]:
        start = len(self.queued)
        self.queued.extend(BusMessage(0, start + i + 1, c) for i, c in enumerate(changes))
        return [start + i + 1 for i in range(len(changes))]


class _Fence:
    def fence(self, conn: Connection, positions: dict[int, int]) -> None:
        """Every lease held: nothing to refuse."""


def _worker(engine: Engine, runtime: Runtime) -> tuple[Worker, _Bus]:
    bus = _Bus()
    worker = Worker(engine, runtime, cast(ChangeBus, bus), cast(LeaseManager, _Fence()),
                    ScaleSettings(partitions=8))
    return worker, bus


def _publish(bus: _Bus, seq: int, system: str, ext: str, fields: dict[str, Any], canonical_id: str | None = None
             ) -> None:
    bus.queued.append(BusMessage(partition=0, seq=seq, change=ChangeCreate(
        system=system, entity="account", external_id=ext, fields=fields, canonical_id=canonical_id,
        source_ts=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=seq), idempotency_key=f"w-{seq}")))


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'concord.db'}", sqlite_synchronous="NORMAL")
    upgrade(engine)
    return engine


def _activate_key_account_and_blocked(engine: Engine) -> None:
    with engine.begin() as conn:  # the approver's process
        approver = load_runtime(None)
        pid = proposals.propose(conn, approver, proposals.validate_spec(held_as_blocked()), "alice")
        assert proposals.approve(conn, approver, pid, "bob") == 2


def test_a_scale_worker_maps_with_a_version_activated_by_another_process(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    worker, bus = _worker(engine, load_runtime(None, mapping_sync_s=0.0))
    _publish(bus, 1, "salesforce", "001W", {"Name": "W Co"})
    assert worker.step() == 1
    with engine.connect() as conn:
        customer = conn.execute(select(change_log.c.canonical_id)).scalar_one()

    _activate_key_account_and_blocked(engine)

    _publish(bus, 2, "salesforce", "001K", {"Name": "K", "Type": "Key Account"})  # refused under version 1
    _publish(bus, 3, "tryton", "party-w", {"credit_status": "hold"}, canonical_id=customer)
    assert worker.step() == 2
    assert worker.stats.refused == 0
    c, o = change_log.c, outbox.c
    with engine.connect() as conn:
        inbound = conn.execute(select(c.mapping_version).where(c.external_id == "001K")).scalar_one()
        raw = conn.execute(select(o.payload).where(o.kind == "command", o.target == "salesforce")
                           .order_by(o.seq.desc())).scalars().first()
    engine.dispose()
    assert inbound == "salesforce/account@2"
    assert raw is not None
    command = orjson.loads(raw)
    assert command["fields"]["Credit_Status__c"] == "Blocked" and command["mapping_version"] == "salesforce/account@2"


def test_the_scale_front_validates_with_a_version_activated_by_another_process(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    bus = _Bus()
    front = ScaleFront(load_runtime(None, mapping_sync_s=0.0), cast(ChangeBus, bus), ScaleSettings(partitions=8),
                       engine)
    key_account = ChangeCreate(system="salesforce", entity="account", external_id="001K",
                               fields={"Name": "K", "Type": "Key Account"},
                               source_ts=datetime(2026, 3, 1, tzinfo=UTC), idempotency_key="f-1")
    [refused] = front.submit([key_account])
    assert isinstance(refused, ChangeError) and not bus.queued
    _activate_key_account_and_blocked(engine)
    [queued] = front.submit([key_account.model_copy(update={"idempotency_key": "f-2"})])
    engine.dispose()
    assert isinstance(queued, ChangeQueued) and len(bus.queued) == 1
