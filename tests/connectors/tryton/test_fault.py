"""2,000 parties written to the real Tryton server through the fault proxy land exactly once each."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from concord.connectors.runtime import RetryPolicy
from concord.connectors.tryton import TrytonConnector
from concord.sandbox.common import serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, create_app
from concord.sandbox.tryton import TrytonServer
from tests.connectors.tryton.support import connector_config

PARTIES = 2_000
PLAN = FaultPlan(seed=5, rate_limit_p=0.05, error_p=0.05, error_statuses=[500, 502, 503],
                 drop_after_write_p=0.05, drop_disconnect_p=0.5, retry_after_s=0)
RETRY = RetryPolicy(max_attempts=12, base_delay_s=0.01, max_delay_s=0.1, max_elapsed_s=300.0)


@pytest.mark.tryton
@pytest.mark.slow
def test_bulk_create_through_faults_lands_every_party_once(tryton_server: TrytonServer) -> None:
    proxy = serve_in_thread(create_app(tryton_server.url, PLAN))
    try:
        config = connector_config(tryton_server, batch_size=50).model_copy(
            update={"url": proxy.base_url, "retry": RETRY})
        connector = TrytonConnector(config)
        items = [(f"fault-{n:05d}", {"name": f"Fault Party {n}", "address.city": "Ghent"}) for n in range(PARTIES)]
        records = connector.create_many("party", items)
        again = connector.create_many("party", items[:100])  # a replayed job returns, never re-creates
        connector.close()
        stats = httpx.get(f"{proxy.base_url}/__faults__/stats").json()
    finally:
        proxy.stop()
    assert len(records) == PARTIES and [r.id for r in again] == [r.id for r in records[:100]]
    direct = TrytonConnector(connector_config(tryton_server))
    rows = direct.client.search_read("party.party", [("code", "like", "fault-%")], ["code"],
                                     context={"active_test": False})
    direct.close()
    per_code = Counter(str(row["code"]) for row in rows)
    assert len(per_code) == PARTIES and max(per_code.values()) == 1
    # The faults happened, including writes applied behind a lost answer.
    assert stats["writes_applied_but_failed"] >= 1 and stats["rate_limited"] >= 1
