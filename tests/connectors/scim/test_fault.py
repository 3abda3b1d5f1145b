"""2,000 admin users (and a few groups) through the fault proxy in front of scim2-server, exactly once."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.scim import ScimConfig, ScimConnector
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.faultproxy import FaultPlan, FaultProxy
from concord.sandbox.faultproxy import create_app as create_proxy
from tests.connectors.scim.server import TOKEN, ScimServer, running_scim_server

USERS = 2_000
GROUPS = 40
PLAN = FaultPlan(
    seed=8,
    rate_limit_p=0.05,
    retry_after_s=1,
    error_p=0.05,
    drop_after_write_p=0.05,
    drop_disconnect_p=0.5,
)


@dataclass
class Chaos:
    server: ScimServer
    proxy: FaultProxy
    handle: ServerHandle


@pytest.fixture
def chaos() -> Iterator[Chaos]:
    with running_scim_server() as server:
        proxy = create_proxy(server.origin, PLAN)
        handle = serve_in_thread(proxy)
        try:
            yield Chaos(server, proxy, handle)
        finally:
            handle.stop()


def externals(server: ScimServer, resource_type: str) -> list[str]:
    stored = [r for r in server.storage.resources if r.meta is not None and r.meta.resource_type == resource_type]
    return sorted(str(r.external_id) for r in stored)


def test_users_and_groups_land_exactly_once(chaos: Chaos) -> None:
    clock = ManualClock()
    config = ScimConfig(
        base_url=f"{chaos.handle.base_url}/v2",
        bearer_token=SecretStr(TOKEN),
        retry=RetryPolicy(max_attempts=12, base_delay_s=0.05, max_delay_s=2.0, max_elapsed_s=3_600),
        breaker=BreakerSettings(failure_threshold=8, cooldown_s=5.0),
    )
    connector = ScimConnector(config, clock=clock, rng=random.Random(3)).discover()
    users = [(f"emp-{n:04}", {"userName": f"admin{n:04}@customer.test", "active": True}) for n in range(USERS)]
    groups = [(f"grp-{n:02}", {"displayName": f"Team {n % 10}"}) for n in range(GROUPS)]  # names repeat on purpose
    try:
        user_results = connector.create_many("Users", users)
        group_results = connector.create_many("Groups", groups)
    finally:
        connector.close()

    assert [r.external_id for r in user_results] == [key for key, _ in users]
    assert [r for r in user_results + group_results if r.action == "failed"] == []
    assert externals(chaos.server, "User") == [key for key, _ in users]
    assert externals(chaos.server, "Group") == [key for key, _ in groups]
    assert len({r.id for r in user_results}) == USERS
    # The faults really happened, and writes the proxy applied but reported as failed were not repeated.
    stats = chaos.proxy.stats
    assert stats.writes_applied_but_failed >= 2 and stats.drops.get("disconnect", 0) >= 1
    applied = Counter(record.path for record in stats.applied_but_failed)
    assert applied["/v2/Bulk"] >= 1 and applied["/v2/Groups"] >= 1
    assert sum(1 for r in user_results if r.action == "existing") >= 1  # a replayed bulk, resolved by externalId
    assert stats.rate_limited >= 1 and sum(1 for pause in clock.sleeps if pause >= 1.0) >= stats.rate_limited
