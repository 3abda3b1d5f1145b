"""Exactly-once creates through the fault proxy: 429s, 5xx and writes whose answer is lost after Stripe
applied them. The Idempotency-Key makes every retried create replay the first answer instead of duplicating."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial

import httpx
import pytest

from concord.connectors.base import ExternalRecord
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.connectors.runtime.retry import Retrier, RetryPolicy
from concord.connectors.stripe import StripeConnector
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, create_app
from tests.connectors.stripe.support import Twin, connector_for, running_twin

TOTAL = 2000
PLAN = FaultPlan(
    seed=20240611,
    rate_limit_p=0.05,
    retry_after_s=0,  # Retry-After: 0 keeps the run fast; the governor honours larger values
    error_p=0.05,
    error_statuses=[500, 502, 503],
    drop_after_write_p=0.05,
    drop_disconnect_p=0.3,
    paths=["/v1/*"],
)


@pytest.fixture
def faulty() -> Iterator[tuple[Twin, ServerHandle]]:
    with running_twin() as twin:
        proxy = serve_in_thread(create_app(twin.url, PLAN))
        try:
            yield twin, proxy
        finally:
            proxy.stop()


def _payload(n: int) -> dict[str, object]:
    return {"name": f"Fault Customer {n}", "email": f"ap{n}@fault.example", "metadata": {"concord_id": f"fc-{n}"}}


def _concord_ids(twin: Twin) -> Counter[str]:
    return Counter(customer["metadata"].get("concord_id", "") for customer in twin.customers())


def test_two_thousand_customers_exactly_once_through_faults(faulty: tuple[Twin, ServerHandle]) -> None:
    twin, proxy = faulty
    connector: StripeConnector = connector_for(proxy.base_url, clock=ManualClock())
    created = {connector.create("customer", _payload(n), idempotency_key=f"fault-{n}").id for n in range(TOTAL)}
    connector.close()

    ids = _concord_ids(twin)
    assert len(twin.customers()) == TOTAL
    assert ids == Counter({f"fc-{n}": 1 for n in range(TOTAL)})
    assert created == {customer["id"] for customer in twin.customers()}
    stats = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    # The faults really happened: writes applied while the client saw a failure or a cut connection...
    assert stats["writes_applied_but_failed"] >= 50
    assert stats["drops"].get("disconnect", 0) >= 10
    assert stats["rate_limited"] >= 50 and sum(stats["server_errors"].values()) >= 50
    # ...yet each key executed exactly once: its retries were answered from Stripe's idempotency store.
    events = [e for e in twin.runtime.store.newest_first("event") if e["type"] == "customer.created"]
    assert sorted(e["request"]["idempotency_key"] for e in events) == sorted(f"fault-{n}" for n in range(TOTAL))
    recorder = connector.client.recorder
    assert isinstance(recorder, InMemoryCallRecorder)
    failed_posts = [s for s in recorder.samples if s.method == "POST" and s.outcome != "ok"]
    assert len(failed_posts) >= stats["writes_applied_but_failed"]


def test_control_a_fresh_key_per_attempt_duplicates(faulty: tuple[Twin, ServerHandle]) -> None:
    """Without a stable key the same faults leave duplicates: proof the test above can fail."""
    twin, proxy = faulty
    connector = connector_for(proxy.base_url, retry=RetryPolicy(max_attempts=1))
    outer = Retrier(RetryPolicy(max_attempts=20), clock=ManualClock(), rng=random.Random(1))

    def create_with_a_new_key(n: int) -> ExternalRecord:
        return connector.create("customer", _payload(n), idempotency_key=uuid.uuid4().hex)

    for n in range(300):
        outer.run(partial(create_with_a_new_key, n))
    connector.close()
    stats = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    assert len(twin.customers()) == 300 + stats["writes_applied_but_failed"] > 300
    assert max(_concord_ids(twin).values()) >= 2

