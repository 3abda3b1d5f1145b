"""A writer process of the governor test: creates HubSpot companies through the production connector until
its deadline, spending the (tenant, system, credential) allowance it shares with its peers through Redis."""

from __future__ import annotations

import sys
import time

from pydantic import SecretStr

from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
from concord.connectors.hubspot.client import governed_limit, header_rules
from concord.connectors.hubspot.config import SYSTEM
from concord.connectors.runtime.governor import RateGovernor
from concord.connectors.runtime.governor_redis import RedisGovernorStore


def main(base_url: str, token: str, redis_url: str, prefix: str, name: str, seconds: float) -> None:
    config = HubSpotConfig(base_url=base_url, access_token=SecretStr(token), burst_limit=100, burst_window_s=10.0)
    store = RedisGovernorStore.from_url(redis_url, prefix=prefix)
    governor = RateGovernor({SYSTEM: governed_limit(config)}, store=store, header_rules=header_rules(config))
    connector = HubSpotConnector(config, governor=governor)
    deadline = time.time() + seconds
    created = 0
    while time.time() < deadline:
        connector.create("companies", {"name": f"{name} {created}"}, f"{name}-{created}")
        created += 1
    print(created)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
