"""2,000 companies through the fault proxy in front of the twin land exactly once each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, create_app
from tests.connectors.hubspot.support import START, SteppingClock, Twin, connector_for, running_twin

COMPANIES = 2_000
PLAN = FaultPlan(
    seed=7,
    rate_limit_p=0.1,
    error_p=0.1,
    error_statuses=[500, 502, 503],
    drop_after_write_p=0.05,
    drop_disconnect_p=0.5,
)


@pytest.fixture
def behind_proxy() -> Iterator[tuple[Twin, ServerHandle]]:
    clock = SteppingClock(START)
    with running_twin(clock) as twin:
        proxy = serve_in_thread(create_app(twin.base_url, PLAN))
        try:
            yield twin, proxy
        finally:
            proxy.stop()


def test_bulk_upsert_through_faults_lands_every_company_once(behind_proxy: tuple[Twin, ServerHandle]) -> None:
    twin, proxy = behind_proxy
    assert twin.clock is not None
    hubspot = connector_for(proxy.base_url, twin.clock)
    items = {f"CC-{n:05d}": {"name": f"Company {n}", "city": "Ghent"} for n in range(COMPANIES)}
    outcome = hubspot.upsert_many("companies", "concord_id", items)
    hubspot.close()

    assert not outcome.errors and set(outcome.records) == set(items)
    assert len({record.id for record in outcome.records.values()}) == COMPANIES
    stored = twin.store.snapshot("companies")
    per_key = Counter(obj.values.get("concord_id") for obj in stored)
    assert len(stored) == COMPANIES and set(per_key) == set(items) and max(per_key.values()) == 1

    faults = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    # The faults really happened: refused calls, failed calls and writes applied behind a lost answer.
    assert faults["rate_limited"] >= 1 and sum(faults["server_errors"].values()) >= 1
    assert faults["writes_applied_but_failed"] >= 2 and faults["drops"].get("disconnect", 0) >= 1
