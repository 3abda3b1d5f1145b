"""`RateGoverned`: how a connector tells operations which governor keys it spends, so headroom and daily quota
can be exported and charted per (tenant, system, credential) without the core knowing any vendor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from concord.connectors.runtime.governor import RateGovernor, RateKey


@dataclass(frozen=True)
class GovernedKey:
    """One bucket: the governor that holds it and the key it is stored under."""

    governor: RateGovernor
    key: RateKey


@runtime_checkable
class RateGoverned(Protocol):
    def rate_keys(self) -> list[GovernedKey]:
        """Every governor key this connector's calls spend (several when a vendor keeps separate allowances)."""
        ...


def governed_keys(connectors: Iterable[object]) -> list[GovernedKey]:
    """The keys of every connector that reports them; connectors without a governor report none."""
    out: list[GovernedKey] = []
    for connector in connectors:
        if isinstance(connector, RateGoverned):
            out.extend(connector.rate_keys())
    return out
