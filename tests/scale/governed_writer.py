"""A writer process of the governor test: creates HubSpot companies through the connector a `concord worker` builds
from its connections file (scale/connectors.py) until its deadline, spending the (tenant, system, credential)
allowance it shares with its peers through Redis."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from concord.connectors.runtime.governor_redis import RedisGovernorStore
from concord.scale.connectors import load_connectors


def main(base_url: str, token: str, redis_url: str, prefix: str, name: str, seconds: float) -> None:
    config = {"base_url": base_url, "access_token": token, "burst_limit": 100, "burst_window_s": 10.0}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "connectors.yaml"
        path.write_text(yaml.safe_dump({"systems": {"hubspot": {"connector": "hubspot", "config": config}}}))
        connector = load_connectors(path, RedisGovernorStore.from_url(redis_url, prefix=prefix))["hubspot"]
    deadline = time.time() + seconds
    created = 0
    while time.time() < deadline:
        connector.create("companies", {"name": f"{name} {created}"}, f"{name}-{created}")
        created += 1
    print(created)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
