"""Data residency: a tenant pinned to a region (`region:` in concord.yaml) is only ever sent to endpoints of that
region (`region:` of an endpoint in the connections file). Pure: which connector a command may use, or why none.

There is no fallback on purpose: a command of a pinned tenant for a system without an endpoint in its region is
refused (the dispatcher fails it with a SyncFailed event naming the reason), never sent to another region's
endpoint. A tenant that is not pinned uses the system's default endpoint as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from concord.connectors.base import Connector


class ResidencyRefused(Exception):
    """No endpoint of the tenant's region exists for the target system."""


@dataclass(frozen=True)
class Residency:
    tenant_regions: Mapping[str, str] = field(default_factory=dict)  # tenant → the region it is pinned to
    regional: Mapping[str, Mapping[str, Connector]] = field(default_factory=dict)  # system → region → endpoint

    def connector(self, tenant: str, system: str, default: Mapping[str, Connector]) -> Connector | None:
        """The endpoint a command of `tenant` for `system` goes to; None when the system has no connector at
        all (the dispatcher defers: configuration may follow). Raises ResidencyRefused for a pinned tenant whose
        region the system has no endpoint in."""
        region = self.tenant_regions.get(tenant)
        if region is None:
            return default.get(system)
        found = self.regional.get(system, {}).get(region)
        if found is None:
            regions = sorted(self.regional.get(system, {}))
            raise ResidencyRefused(
                f"data residency: tenant {tenant!r} is pinned to region {region!r} and {system} has no endpoint "
                f"there (endpoint regions: {', '.join(regions) or 'none declared'}); not sent anywhere else")
        return found

    def all_connectors(self) -> list[Connector]:
        return [c for endpoints in self.regional.values() for c in endpoints.values()]

    def named_endpoints(self, default: Mapping[str, Connector]) -> dict[str, Connector]:
        """Every endpoint once, by name: a default as its system, any other as `system@region` (what /readyz
        probes and the headroom sampler watch: a regional endpoint is as much a dependency as a default one)."""
        named = dict(default)
        for system, regions in sorted(self.regional.items()):
            for region, connector in sorted(regions.items()):
                if default.get(system) is not connector:
                    named[f"{system}@{region}"] = connector
        return named


def tenant_regions(tenants: Mapping[str, object]) -> dict[str, str]:
    """tenant → region from the hub configuration's tenants (those with a `region`)."""
    out: dict[str, str] = {}
    for name, tenant in tenants.items():
        region = getattr(tenant, "region", None)
        if region:
            out[name] = str(region)
    return out
