"""Run every benchmark scenario, or the ones named: `python -m bench [ingest ...]`."""

from __future__ import annotations

import importlib
import sys

SCENARIOS = ["ingest", "connectors", "events", "matching", "audit", "reconcile", "console", "scale", "chaos",
             "workflows"]
# Run only when named: a quicker subset of another scenario, one that takes minutes under valgrind, or a study.
ON_REQUEST = ["events_latency", "ingest_cost", "ingest_front"]


def main(argv: list[str]) -> None:
    for name in argv or SCENARIOS:
        if name not in SCENARIOS + ON_REQUEST:
            raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS + ON_REQUEST)}")
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
