"""2,000 organizations through the fault proxy (10% 429/5xx, 5% drop-after-write) land exactly once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.zendesk import ZendeskConnector
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, FaultProxy
from concord.sandbox.faultproxy import create_app as create_proxy
from concord.sandbox.zendesk import ZendeskTwinSettings
from tests.connectors.zendesk.support import StepClock, Twin, running_twin, token_config

TOTAL = 2_000
PLAN = FaultPlan(
    seed=5,
    rate_limit_p=0.05,
    retry_after_s=1,
    error_p=0.05,
    drop_after_write_p=0.05,
    drop_disconnect_p=0.5,
)


@dataclass
class Chaos:
    twin: Twin
    proxy: FaultProxy
    handle: ServerHandle


@pytest.fixture
def chaos() -> Iterator[Chaos]:
    # The twin's own limit is lifted: this test is about injected faults, the rate limit has its own tests.
    with running_twin(ZendeskTwinSettings(requests_per_minute=1_000_000)) as twin:
        proxy = create_proxy(twin.url, PLAN)
        handle = serve_in_thread(proxy)
        try:
            yield Chaos(twin, proxy, handle)
        finally:
            handle.stop()


def test_two_thousand_organizations_land_exactly_once(chaos: Chaos) -> None:
    clock = StepClock()
    config = token_config(
        chaos.handle.base_url,
        retry=RetryPolicy(max_attempts=12, base_delay_s=0.05, max_delay_s=2.0, max_elapsed_s=3_600),
        breaker=BreakerSettings(failure_threshold=8, cooldown_s=5.0),
    )
    connector = ZendeskConnector(config, clock=clock, rng=random.Random(7))
    items = [(f"cust-{n:04}", {"name": f"Customer {n:04}", "notes": f"row {n}"}) for n in range(TOTAL)]
    try:
        results = connector.upsert_many("organizations", items)
    finally:
        connector.close()

    assert [r.external_id for r in results] == [ext for ext, _ in items]
    assert [r for r in results if r.action == "failed"] == []
    stored = chaos.twin.store.list_organizations()
    assert len(stored) == TOTAL
    assert sorted(org.external_id or "" for org in stored) == [ext for ext, _ in items]
    assert {org.name for org in stored} == {fields["name"] for _, fields in items}
    # The faults really happened: writes applied while the client saw a failure, and were not duplicated.
    stats = chaos.proxy.stats
    assert stats.writes_applied_but_failed >= 1 and stats.drops.get("disconnect", 0) >= 1
    assert stats.rate_limited >= 1 and sum(stats.server_errors.values()) >= 1
    assert sum(1 for r in results if r.action == "updated") >= 1  # a replayed job resolved by external id
    # Every injected 429 carried Retry-After: 1, and the client waited at least that long each time.
    assert sum(1 for pause in clock.sleeps if pause >= 1.0) >= stats.rate_limited
