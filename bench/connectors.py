"""bench/connectors: bulk-write 10,000 customers into the Salesforce and HubSpot twins under their real limits,
through the fault proxy injecting 5% 429/5xx, on real time.

Reports records/s against the ceiling the vendor's limit allows, the share of the request budget used, duplicates
and 429s that reached the caller. HubSpot counts every request against its limit, whatever the answer, so the
budget used is (requests served + requests the proxy failed) / (limit x elapsed). The injected 429s say
`Retry-After: 0`: a spurious 429, not an exhausted window (HubSpot's own burst 429s are avoided by the governor
and would carry its rate-limit headers). HubSpot's ceiling is its burst limit: 190 requests / 10 s, times 100
records per batch = 1,900 records/s. Salesforce has no per-second limit (a rolling daily quota); its ceiling is set by
request latency, so its budget column shows how full each Collections call was (records per request of 200).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
from concord.connectors.runtime import RetryPolicy
from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from concord.sandbox.common import serve_in_thread
from concord.sandbox.faultproxy import FaultPlan
from concord.sandbox.faultproxy import create_app as fault_proxy
from concord.sandbox.hubspot.app import create_app as hubspot_twin
from concord.sandbox.hubspot.settings import HubSpotTwinSettings
from concord.sandbox.salesforce.app import create_app as salesforce_twin
from concord.sandbox.salesforce.settings import SalesforceTwinSettings

PLAN = FaultPlan(seed=11, rate_limit_p=0.025, error_p=0.025, error_statuses=[500, 502, 503], retry_after_s=0)
RETRY = RetryPolicy(max_attempts=10, base_delay_s=0.05, max_delay_s=1.0, max_elapsed_s=600.0)


@dataclass
class Row:
    system: str
    records: int
    seconds: float
    ceiling: float | None
    requests: int
    budget: str
    duplicates: int
    errors: int
    vendor_429: int
    injected: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def _faults(proxy_url: str) -> int:
    stats = httpx.get(f"{proxy_url}/__faults__/stats").json()
    return int(stats["rate_limited"]) + int(sum(stats["server_errors"].values()))


def hubspot(count: int) -> Row:
    settings = HubSpotTwinSettings()
    app = hubspot_twin(settings)
    twin = serve_in_thread(app)
    proxy = serve_in_thread(fault_proxy(twin.base_url, PLAN))
    # Tuned for bulk loads (documented HubSpotConfig settings): a 3% burst and a 2% margin keep any rolling
    # window under the limit while pacing at ~95% of it; the defaults (10% burst, 5% margin) pace at ~85%.
    connector = HubSpotConnector(HubSpotConfig(base_url=proxy.base_url, access_token=SecretStr(settings.access_token),
                                               retry=RETRY, burst_fraction=0.03, burst_safety=0.02))
    items = {f"HB-{n:06d}": {"name": f"Company {n}", "domain": f"c{n}.example"} for n in range(count)}
    started = time.perf_counter()
    outcome = connector.upsert_many("companies", "concord_id", items)
    seconds = time.perf_counter() - started
    stats = httpx.get(f"{twin.base_url}/__twin__/stats").json()
    stored = Counter(obj.values.get("concord_id") for obj in app.state.store.snapshot("companies"))
    requests, faults = int(stats["requests"]), _faults(proxy.base_url)
    allowed = settings.burst_limit / settings.burst_window_s * seconds
    row = Row("HubSpot (batch 100, 190 req/10 s)", len(stored), seconds, 1_900.0, requests,
              f"{(requests + faults) / allowed:.1%}", sum(n - 1 for n in stored.values()), len(outcome.errors),
              sum(stats["rateLimited"].values()), faults)
    connector.close()
    proxy.stop()
    twin.stop()
    return row


def salesforce(count: int) -> Row:
    settings = SalesforceTwinSettings(daily_api_quota=100_000)
    app = salesforce_twin(settings)
    twin = serve_in_thread(app)
    proxy = serve_in_thread(fault_proxy(twin.base_url, PLAN))
    connector = SalesforceConnector(SalesforceConfig(
        login_url=proxy.base_url, client_id=settings.client_id, client_secret=SecretStr(settings.client_secret),
        retry=RETRY, daily_api_quota=settings.daily_api_quota))
    records = [{"Concord_Id__c": f"SF-{n:06d}", "Name": f"Customer {n}"} for n in range(count)]
    started = time.perf_counter()
    results = connector.upsert_many("Account", "Concord_Id__c", records)
    seconds = time.perf_counter() - started
    stored = Counter(r.get("Concord_Id__c") for r in app.state.store.snapshot("Account"))
    used = int(app.state.twin.usage.used)
    calls = max(used, 1)  # the twin counts data API calls (the OAuth token request is not one)
    row = Row("Salesforce (Collections 200)", len(stored), seconds, None, used,
              f"{len(stored) / calls / 200:.0%} ({len(stored) // calls} rec/call)", sum(n - 1 for n in stored.values()),
              sum(1 for r in results if r.error is not None), 0, _faults(proxy.base_url))
    connector.close()
    proxy.stop()
    twin.stop()
    return row


def main() -> None:
    count = int(os.environ.get("BENCH_CONNECTOR_RECORDS", "10000"))
    rows = [salesforce(count), hubspot(count)]
    table = Table("target", "records", "records/s", "ceiling/s", "requests", "budget used", "duplicates",
                  "errors to caller", "vendor 429s", "injected faults",
                  title=f"bench/connectors — {count:,} customers through 5% injected 429/5xx (real time)")
    for r in rows:
        table.add_row(r.system, f"{r.records:,}", f"{r.rate:,.0f}", "-" if r.ceiling is None else f"{r.ceiling:,.0f}",
                      f"{r.requests:,}", r.budget, str(r.duplicates), str(r.errors), str(r.vendor_429), str(r.injected))
    Console().print(table)


if __name__ == "__main__":
    main()
