"""Bulk loads paced by the rate governor from HubSpot's limit headers draw no 429s from the twin.

Twin and connector share one fake clock: the twin's rolling window only moves when the governor sleeps,
so a load that outruns the limit would be refused at once, and pacing costs no real time.
"""

from __future__ import annotations

import pytest

from concord.connectors.hubspot import HubSpotConnector
from concord.connectors.runtime.governor import RateGovernor
from tests.connectors.hubspot.support import START, SteppingClock, Twin, config_for, connector_for, running_twin


def _burst_429s(twin: Twin) -> int:
    limited = twin.stats()["rateLimited"]
    assert isinstance(limited, dict)
    return int(limited["TEN_SECONDLY_ROLLING"])


@pytest.mark.parametrize(
    ("limit", "batches", "batch_size"),
    [(20, 30, 10), (190, 400, 2)],
    ids=["scaled-down-20-per-10s", "hubspot-190-per-10s"],
)
def test_bulk_load_stays_under_the_rolling_limit(limit: int, batches: int, batch_size: int) -> None:
    clock = SteppingClock(START)
    with running_twin(clock, burst_limit=limit) as twin:
        # The connector is configured for the default 190/10 s and learns the twin's limit from headers.
        hubspot = connector_for(twin.base_url, clock, batch_size=batch_size)
        items = {f"G-{n:05d}": {"name": f"Governed {n}"} for n in range(batches * batch_size)}
        outcome = hubspot.upsert_many("companies", "concord_id", items)
        hubspot.close()
        assert not outcome.errors and len(outcome.records) == len(items)
        assert _burst_429s(twin) == 0
        assert twin.stats()["requests"] == batches
        elapsed = clock.time() - START
        # At most `limit` calls in any 10 s: the calls beyond the first window had to wait...
        assert elapsed >= (batches - 1) // limit * 10
        # ...but not much longer than the limit requires.
        assert elapsed <= batches / (0.8 * limit / 10)


def test_control_the_same_load_unpaced_draws_429s() -> None:
    clock = SteppingClock(START)
    with running_twin(clock, burst_limit=20) as twin:
        unpaced = RateGovernor({}, clock=clock, header_rules=())
        hubspot = HubSpotConnector(config_for(twin.base_url, batch_size=10), clock=clock, governor=unpaced)
        items = {f"U-{n:04d}": {"name": f"Unpaced {n}"} for n in range(300)}
        outcome = hubspot.upsert_many("companies", "concord_id", items)
        hubspot.close()
        # The 429s were retried after the window HubSpot names, so the load still completes.
        assert not outcome.errors and len(twin.store.snapshot("companies")) == 300
        assert _burst_429s(twin) > 0
