from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from concord.connectors.base import QuotaExhausted, RateLimit, RateLimited
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.governor import GovernorSettings, RateGovernor, RateKey
from concord.connectors.runtime.governor_store import InMemoryGovernorStore
from concord.connectors.runtime.quota_headers import HeaderRule, parse_quota_headers

HUBSPOT = RateKey("acme", "hubspot", "private-app-1")
OTHER_TENANT = RateKey("globex", "hubspot", "private-app-7")
SALESFORCE = RateKey("acme", "salesforce", "jwt-bearer")


def make(
    clock: ManualClock,
    limits: dict[str, RateLimit] | None = None,
    settings: GovernorSettings | None = None,
    store: InMemoryGovernorStore | None = None,
) -> RateGovernor:
    limits = limits if limits is not None else {"hubspot": RateLimit(requests=5, per_seconds=10)}
    return RateGovernor(limits, store=store, clock=clock, settings=settings)


def test_burst_then_waits_for_refill() -> None:
    clock = ManualClock()
    governor = make(clock)
    for _ in range(5):
        governor.acquire(HUBSPOT)
    assert clock.sleeps == []
    governor.acquire(HUBSPOT)
    # 5 per 10 s refills one token every 2 s.
    assert clock.sleeps == [pytest.approx(2.0)]


def test_refill_is_proportional_and_capped() -> None:
    clock = ManualClock()
    governor = make(clock)
    for _ in range(5):
        governor.acquire(HUBSPOT)
    clock.advance(4.0)
    assert governor.headroom(HUBSPOT).tokens == pytest.approx(2.0)
    clock.advance(1000.0)
    assert governor.headroom(HUBSPOT).tokens == pytest.approx(5.0)


def test_keys_are_independent() -> None:
    clock = ManualClock()
    governor = make(clock)
    for _ in range(5):
        governor.acquire(HUBSPOT)
    for _ in range(5):
        governor.acquire(OTHER_TENANT)
    assert clock.sleeps == []


def test_retry_after_pauses_the_whole_key() -> None:
    clock = ManualClock()
    governor = make(clock)
    governor.observe(HUBSPOT, {"Retry-After": "7"})
    assert governor.headroom(HUBSPOT).paused_for_s == pytest.approx(7.0)
    governor.acquire(HUBSPOT)
    assert clock.sleeps == [pytest.approx(7.0)]
    governor.acquire(OTHER_TENANT)
    assert clock.sleeps == [pytest.approx(7.0)]


def test_retry_after_as_http_date() -> None:
    clock = ManualClock()
    governor = make(clock)
    when = datetime.fromtimestamp(clock.time(), UTC) + timedelta(seconds=12)
    governor.observe(HUBSPOT, {"retry-after": format_datetime(when, usegmt=True)})
    governor.acquire(HUBSPOT)
    assert clock.sleeps == [pytest.approx(12.0)]


def test_long_pause_raises_rate_limited_instead_of_parking_the_worker() -> None:
    clock = ManualClock()
    governor = make(clock, settings=GovernorSettings(max_wait_s=30))
    governor.pause(HUBSPOT, 120)
    with pytest.raises(RateLimited) as caught:
        governor.acquire(HUBSPOT)
    assert caught.value.retry_after == pytest.approx(120.0)
    assert clock.sleeps == []


def test_local_daily_quota_pauses_then_resumes_next_window() -> None:
    clock = ManualClock()
    limits = {"salesforce": RateLimit(requests=100, per_seconds=1, daily_quota=3)}
    governor = make(clock, limits, GovernorSettings(daily_window_s=86_400))
    start = clock.time()
    for _ in range(3):
        governor.acquire(SALESFORCE)
    with pytest.raises(QuotaExhausted) as caught:
        governor.acquire(SALESFORCE)
    assert caught.value.resume_at == datetime.fromtimestamp(start + 86_400, UTC)
    assert governor.headroom(SALESFORCE).daily_remaining == 0
    clock.advance(86_399)
    with pytest.raises(QuotaExhausted):
        governor.acquire(SALESFORCE)
    clock.advance(1)
    governor.acquire(SALESFORCE)
    assert governor.headroom(SALESFORCE).daily_remaining == 2
    assert clock.sleeps == []


def test_hubspot_headers_adapt_capacity_and_tokens() -> None:
    clock = ManualClock()
    governor = make(clock)
    governor.observe(
        HUBSPOT,
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Remaining": "3",
        },
    )
    room = governor.headroom(HUBSPOT)
    assert room.capacity == 190
    assert room.tokens == pytest.approx(3.0)
    for _ in range(3):
        governor.acquire(HUBSPOT)
    governor.acquire(HUBSPOT)
    assert clock.sleeps == [pytest.approx(10 / 190)]


def test_vendor_daily_quota_spent_pauses_and_probes_after_recheck() -> None:
    clock = ManualClock()
    governor = make(clock, settings=GovernorSettings(quota_recheck_s=900))
    now = clock.time()
    governor.observe(HUBSPOT, {"X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "0"})
    with pytest.raises(QuotaExhausted) as caught:
        governor.acquire(HUBSPOT)
    assert caught.value.resume_at == datetime.fromtimestamp(now + 900, UTC)
    assert caught.value.system == "hubspot"
    clock.advance(900)
    governor.acquire(HUBSPOT)  # the probe
    governor.observe(HUBSPOT, {"X-HubSpot-RateLimit-Daily-Remaining": "0"})
    with pytest.raises(QuotaExhausted):
        governor.acquire(HUBSPOT)
    clock.advance(900)
    governor.acquire(HUBSPOT)
    governor.observe(HUBSPOT, {"X-HubSpot-RateLimit-Daily-Remaining": "499000"})
    assert governor.headroom(HUBSPOT).daily_remaining == 499_000
    assert governor.headroom(HUBSPOT).daily_limit == 500_000
    governor.acquire(HUBSPOT)


def test_salesforce_usage_header_counts_down_to_exhaustion() -> None:
    clock = ManualClock()
    governor = make(clock, {})
    governor.observe(SALESFORCE, {"Sforce-Limit-Info": "api-usage=4999/5000"})
    assert governor.headroom(SALESFORCE).daily_remaining == 1
    governor.acquire(SALESFORCE)
    with pytest.raises(QuotaExhausted):
        governor.acquire(SALESFORCE)


def test_zendesk_exhausted_window_pauses_until_reset() -> None:
    clock = ManualClock()
    key = RateKey("acme", "zendesk", "api-token-1")
    limits = {"zendesk": RateLimit(requests=700, per_seconds=60)}
    governor = make(clock, limits, GovernorSettings(max_wait_s=60))
    governor.observe(key, {"ratelimit-remaining": "0", "ratelimit-limit": "700", "ratelimit-reset": "41"})
    assert governor.headroom(key).tokens == 0
    governor.acquire(key)
    assert clock.sleeps == [pytest.approx(41.0)]


def test_undeclared_system_is_unlimited_but_honours_retry_after() -> None:
    clock = ManualClock()
    key = RateKey("acme", "tryton", "admin")
    governor = make(clock, {})
    for _ in range(1000):
        governor.acquire(key)
    assert clock.sleeps == []
    governor.observe(key, {"Retry-After": "2"})
    governor.acquire(key)
    assert clock.sleeps == [pytest.approx(2.0)]
    assert governor.headroom(key).tokens is None


def test_workers_sharing_a_store_share_the_bucket() -> None:
    clock = ManualClock()
    store = InMemoryGovernorStore()
    first, second = make(clock, store=store), make(clock, store=store)
    for _ in range(3):
        first.acquire(HUBSPOT)
    for _ in range(2):
        second.acquire(HUBSPOT)
    assert clock.sleeps == []
    first.acquire(HUBSPOT)
    assert clock.sleeps == [pytest.approx(2.0)]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "X-HubSpot-RateLimit-Daily": "250000",
                "X-HubSpot-RateLimit-Daily-Remaining": "249990",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": "100",
                "X-HubSpot-RateLimit-Remaining": "97",
            },
            {
                "daily_max": 250000,
                "daily_remaining": 249990,
                "interval_seconds": 10.0,
                "interval_max": 100,
                "interval_remaining": 97,
            },
        ),
        ({"sforce-limit-info": "api-usage=10018/100000"}, {"daily_used": 10018, "daily_max": 100000}),
        ({"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "699"}, {"interval_max": 700, "interval_remaining": 699}),
        ({"Retry-After": "not a number"}, {}),
        ({"Content-Type": "application/json"}, {}),
    ],
)
def test_header_table(headers: dict[str, str], expected: dict[str, float]) -> None:
    observed = parse_quota_headers(headers, now=0.0).model_dump(exclude_none=True)
    assert observed == pytest.approx(expected)


def test_daily_left_from_used_and_max() -> None:
    observed = parse_quota_headers({"Sforce-Limit-Info": "api-usage=10018/100000"}, now=0.0)
    assert observed.daily_left() == 89_982


def test_new_vendor_is_a_table_row_not_code() -> None:
    clock = ManualClock()
    rules = [HeaderRule(header="X-Acme-Calls-Left-Today", target="daily_remaining")]
    governor = RateGovernor({}, clock=clock, header_rules=rules)
    key = RateKey("acme", "acme-erp", "svc")
    governor.observe(key, {"X-Acme-Calls-Left-Today": "0"})
    with pytest.raises(QuotaExhausted):
        governor.acquire(key)


def test_acquire_terminates_on_a_manual_clock_at_epoch_sized_times() -> None:
    """A sub-microsecond wait used to leave a float clock unmoved at ~1.7e9 s, spinning acquire forever."""
    from concord.connectors.base import RateLimit as _RateLimit
    from concord.connectors.runtime import ManualClock as _ManualClock
    from concord.connectors.runtime import RateGovernor as _RateGovernor
    from concord.connectors.runtime import RateKey as _RateKey

    clock = _ManualClock(start=1_764_000_000.0)
    governor = _RateGovernor({"x": _RateLimit(requests=18, per_seconds=1.108)}, clock=clock)
    key = _RateKey(tenant="t", system="x", credential="c")
    for _ in range(40):
        governor.acquire(key)
    assert clock.time() > 1_764_000_000.0
