"""Exactly-once writes through the fault proxy: 429s, 5xx and writes whose answer is lost after Salesforce
applied them. Upserts by `Concord_Id__c` repeat safely; creates keep their idempotency key in that field."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from concord.connectors.base import ExternalRecord
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import Retrier, RetryPolicy
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, create_app
from concord.sandbox.salesforce.testing import RunningTwin, running_twin
from tests.connectors.salesforce.support import connector_for, recorder_of

TOTAL = 2000
BATCH = 20
PLAN = FaultPlan(
    seed=20240611,
    rate_limit_p=0.05,
    retry_after_s=1,  # the connector's clock is manual: honouring Retry-After costs no wall time
    error_p=0.05,
    error_statuses=[500, 502, 503],
    drop_after_write_p=0.05,
    drop_disconnect_p=0.3,
    paths=["/services/*"],  # the token endpoint too
)


@pytest.fixture
def faulty() -> Iterator[tuple[RunningTwin, ServerHandle]]:
    with running_twin() as twin:
        proxy = serve_in_thread(create_app(twin.base_url, PLAN))
        try:
            yield twin, proxy
        finally:
            proxy.stop()


def _stats(proxy: ServerHandle) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    return stats


def _keys(twin: RunningTwin) -> Counter[str]:
    return Counter(str(row["Concord_Id__c"]) for row in twin.store.snapshot("Account"))


def test_two_thousand_accounts_upserted_exactly_once(faulty: tuple[RunningTwin, ServerHandle]) -> None:
    twin, proxy = faulty
    # Collections of 20 rather than 200: enough calls for the 5% drop-after-write to strike several times.
    connector = connector_for(proxy.base_url, batch_size=BATCH)
    records = [{"Name": f"Fault Account {n}", "BillingCity": "Berlin", "Concord_Id__c": f"fa-{n:04d}"}
               for n in range(TOTAL)]
    results = connector.upsert_many("Account", "Concord_Id__c", records)
    connector.close()

    assert [r.error for r in results if not r.ok] == []
    assert _keys(twin) == Counter({f"fa-{n:04d}": 1 for n in range(TOTAL)})
    assert {r.id for r in results} == {row["Id"] for row in twin.store.snapshot("Account")}
    stats = _stats(proxy)
    # The faults really happened: collections the twin applied while the client saw a 5xx or a cut line...
    applied = [a for a in stats["applied_but_failed"] if "/composite/sobjects/" in a["path"]]
    assert stats["writes_applied_but_failed"] >= 1 and applied
    assert stats["rate_limited"] >= 1 and sum(stats["server_errors"].values()) >= 1
    # ...and their retries updated what the lost attempt had created instead of creating it twice.
    assert BATCH <= sum(1 for r in results if r.created is False) <= BATCH * len(applied)


def test_creates_with_idempotency_keys_exactly_once(faulty: tuple[RunningTwin, ServerHandle]) -> None:
    twin, proxy = faulty
    connector = connector_for(proxy.base_url)
    created = {connector.create("Account", {"Name": f"Keyed {n}"}, idempotency_key=f"ck-{n}").id for n in range(300)}
    connector.close()

    assert _keys(twin) == Counter({f"ck-{n}": 1 for n in range(300)})
    assert created == {row["Id"] for row in twin.store.snapshot("Account")}
    stats = _stats(proxy)
    lost_creates = [a for a in stats["applied_but_failed"] if a["method"] == "POST" and "/sobjects/" in a["path"]]
    assert len(lost_creates) >= 3
    # Each lost create was retried, met DUPLICATE_VALUE on its key and looked the record up.
    duplicates = [s for s in recorder_of(connector).samples if s.operation == "sobject.create" and s.status == 400]
    assert len(duplicates) >= len(lost_creates)


def test_control_a_fresh_key_per_attempt_duplicates(faulty: tuple[RunningTwin, ServerHandle]) -> None:
    """Without a stable key the same faults leave duplicates: proof the tests above can fail."""
    twin, proxy = faulty
    connector = connector_for(proxy.base_url, retry=RetryPolicy(max_attempts=1))
    outer = Retrier(RetryPolicy(max_attempts=30, max_elapsed_s=3600.0), clock=ManualClock(), rng=random.Random(1))

    def create_with_a_new_key(n: int) -> ExternalRecord:
        return connector.create("Account", {"Name": f"Unkeyed {n}"}, idempotency_key=uuid.uuid4().hex)

    for n in range(200):
        outer.run(partial(create_with_a_new_key, n))
    connector.close()
    names = Counter(str(row["Name"]) for row in twin.store.snapshot("Account"))
    assert len(names) == 200 and max(names.values()) >= 2
