"""The change bus's consumers: a delivery that never reached the worker is noticed, never skipped."""

from __future__ import annotations

import pytest

from concord.scale.bus import ChangeBus
from concord.scale.partitions import change_partition
from concord.scale.settings import ScaleSettings
from tests.scale.support import workload

pytestmark = pytest.mark.nats


def test_a_gap_in_a_partitions_deliveries_refuses_the_fetch_and_a_reopen_reads_everything(
        scale: ScaleSettings) -> None:
    changes = [c for c in workload(400, customers=40) if change_partition(c, scale.partitions) == 3][:12]
    bus = ChangeBus(scale)
    try:
        bus.ensure_stream()
        seqs = bus.publish(changes)
        bus.open(3, 0)
        # Deliveries the bus never saw, as when a fetch gives up while the server is already sending: the
        # consumer counts them delivered, the next fetch starts after them.
        bus._call(bus._subs[3].fetch(batch=4, timeout=2))
        messages, broken = bus.fetch(100)
        assert (messages, broken) == ([], [3])  # committing those would have skipped the first four
        bus.open(3, 0)  # what the worker does with a broken partition: reopen at the committed position
        messages, broken = bus.fetch(100)
        assert broken == []
        assert [m.seq for m in messages] == seqs
        assert [m.change.idempotency_key for m in messages] == [c.idempotency_key for c in changes]
    finally:
        bus.close()
