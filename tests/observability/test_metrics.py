"""Acceptance: after a scripted run, /metrics values equal the counts in the database (counted here with
plain SQL, independently of the collector)."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from concord.connectors.base import RateLimit
from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.governor import RateGovernor, RateKey
from concord.connectors.runtime.http import CallSample
from concord.observability.logs import log_context
from tests.console import scenario
from tests.console.conftest import OpsRun


def scrape(run: OpsRun) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = run.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return out


def sql(run: OpsRun, query: str) -> list[tuple[object, ...]]:
    with run.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def labelled(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_change_counts_equal_the_change_log(ops_run: OpsRun) -> None:
    metrics = scrape(ops_run)
    rows = sql(ops_run, "SELECT tenant, system, entity, status, COUNT(*) FROM change_log "
                        "GROUP BY tenant, system, entity, status")
    assert rows and sum(int(r[4]) for r in rows) == ops_run.accepted + 1  # + the lifecycle move of the script
    expected = {labelled(tenant=str(t), system=str(s), operation=str(e), outcome=str(o)): float(n)  # type: ignore[arg-type]
                for t, s, e, o, n in rows}
    assert metrics["concord_changes_total"] == expected
    refused = sql(ops_run, "SELECT tenant, system, SUM(rejected) FROM change_log WHERE rejected > 0 "
                           "GROUP BY tenant, system")
    assert metrics["concord_rejected_fields_total"] == {
        labelled(tenant=str(t), system=str(s)): float(n) for t, s, n in refused}  # type: ignore[arg-type]


def test_sync_dead_letter_and_event_figures_equal_the_database(ops_run: OpsRun) -> None:
    metrics = scrape(ops_run)
    failed = sql(ops_run, "SELECT tenant, target, COUNT(*) FROM outbox WHERE kind = 'command' "
                          "AND failed_at IS NOT NULL GROUP BY tenant, target")
    assert failed == [("default", "tryton", 1)] or len(failed) == 1
    assert metrics["concord_failed_syncs_total"] == {
        labelled(tenant=str(t), system=str(s)): float(n) for t, s, n in failed}  # type: ignore[arg-type]
    dead = sql(ops_run, "SELECT subscription, status, COUNT(*) FROM event_dead_letters GROUP BY subscription, status")
    assert dead == [("partner-webhook", "dead", 1)]
    dead_key = labelled(tenant="*", subscription="partner-webhook", outcome="dead")  # subscriptions span tenants
    assert metrics["concord_dead_letters"] == {dead_key: 1.0}
    events = sql(ops_run, "SELECT tenant, type, COUNT(*) FROM outbox WHERE kind = 'event' GROUP BY tenant, type")
    assert metrics["concord_events_total"] == {
        labelled(tenant=str(t), operation=str(k)): float(n) for t, k, n in events}  # type: ignore[arg-type]
    pending = sql(ops_run, "SELECT COUNT(*) FROM approvals WHERE status = 'pending'")[0][0]
    awaiting = sum(v for k, v in metrics["concord_data_quality_exceptions"].items()
                   if ("outcome", "awaiting_steward") in k)
    assert awaiting == pending and pending > 0
    for outcome, query in (("duplicate_review", "SELECT COUNT(*) FROM match_reviews WHERE status = 'pending'"),
                           ("held_for_review", "SELECT COUNT(*) FROM held_changes WHERE status = 'held'")):
        exported = sum(v for k, v in metrics["concord_data_quality_exceptions"].items() if ("outcome", outcome) in k)
        assert exported == sql(ops_run, query)[0][0]
    lag = {k: v for k, v in metrics["concord_event_lag"].items()}
    assert lag == {labelled(tenant="*", subscription="partner-webhook"): 0.0}  # consumed to the end


def test_replays_are_counted_after_one_runs(ops_run: OpsRun) -> None:
    before = scrape(ops_run).get("concord_replays_total", {})
    scenario.replay_subscription(ops_run.engine, ops_run.config, "partner-webhook")
    after = scrape(ops_run)
    runs = sql(ops_run, "SELECT COUNT(*), SUM(delivered) FROM event_replays WHERE subscription = 'partner-webhook'")
    key = labelled(tenant="*", subscription="partner-webhook")
    assert after["concord_replays_total"][key] == float(runs[0][0]) == before.get(key, 0.0) + 1  # type: ignore[arg-type]
    assert after["concord_replayed_events_total"][key] == float(runs[0][1])  # type: ignore[arg-type]


def test_connector_latency_and_headroom_are_recorded_live(ops_run: OpsRun) -> None:
    ops = ops_run.client.app.state.ops  # type: ignore[attr-defined]
    with log_context(tenant="default"):
        ops.metrics.record(CallSample("stripe", "GET /v1/customers", "GET", 200, "ok", 0.042, "c1"))
        ops.metrics.record(CallSample("stripe", "GET /v1/customers", "GET", 429, "rate_limited", 0.003, "c2"))
    governor = RateGovernor({"stripe": RateLimit(requests=100, per_seconds=1, daily_quota=1000)}, clock=ManualClock())
    key = RateKey("default", "stripe", "key-1")
    governor.acquire(key)
    ops.metrics.headroom.watch(governor, key)
    metrics = scrape(ops_run)
    ok = labelled(tenant="default", system="stripe", operation="GET /v1/customers", outcome="ok")
    assert metrics["concord_connector_call_seconds_count"][ok] == 1.0
    assert metrics["concord_connector_call_seconds_sum"][ok] == 0.042
    limited = labelled(tenant="default", system="stripe", operation="GET /v1/customers", outcome="rate_limited")
    assert metrics["concord_connector_call_errors_total"][limited] == 1.0
    bucket = labelled(tenant="default", system="stripe", credential="key-1")
    assert metrics["concord_daily_quota_remaining"][bucket] == 999.0
    assert metrics["concord_rate_limit_headroom"][bucket] == 99.0
