"""The projections behind /metrics and the console, on SQLite and PostgreSQL: totals equal the tables, a second
catch-up reads nothing, related records are linked to their account, names are searchable."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from concord.connectors.runtime.http import CallSample
from concord.console.customer360 import related_ids
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.observability import projector
from concord.observability.latency import SeriesCallRecorder, flush_calls, percentiles


def change(i: int, **extra: object) -> ChangeCreate:
    values: dict[str, object] = {"tenant": "default", "system": "salesforce", "entity": "account",
                                 "external_id": f"001P{i:05d}", "fields": {"Name": f"Projected {i}"},
                                 "source_ts": datetime(2026, 3, 1, 12, tzinfo=UTC), "idempotency_key": f"p-{i}"}
    values.update(extra)
    return ChangeCreate.model_validate(values)


def test_totals_series_links_and_names(engine: Engine, ingest: IngestService) -> None:
    outcomes = ingest.ingest([change(i) for i in range(40)])
    account = outcomes[0]
    assert isinstance(account, ChangePublic)
    billing = ingest.ingest([ChangeCreate(
        tenant="default", system="concord", entity="billing_account", external_id="ba-1", canonical_id="ba-1",
        fields={"account_id": account.canonical_id, "name": "AP"}, source_ts=datetime.now(UTC),
        idempotency_key="ba-1")])[0]
    assert isinstance(billing, ChangePublic)
    work = projector.OpsProjector(engine)
    assert work.catch_up() >= 41
    assert work.catch_up() == 0  # idempotent: nothing new
    with engine.connect() as conn:
        by_status = dict(conn.execute(text("SELECT status, COUNT(*) FROM change_log GROUP BY status")).all())
        totals = projector.totals(conn)
        assert {k.removeprefix("changes_"): int(v) for k, v in totals.items()
                if k.startswith("changes_") and k != "changes_with_refusals"} == by_status
        minute = projector.series(conn, ["changes_applied"], time.time() - 3600)["changes_applied"]
        hourly = projector.series(conn, ["changes_applied"], time.time() - 7 * 86400, step=7200)["changes_applied"]
        assert sum(minute.values()) == sum(hourly.values()) == by_status["applied"]
        assert related_ids(conn, account.canonical_id) == ["ba-1"]
        named = conn.execute(text("SELECT search FROM ops_customer_names WHERE canonical_id = :c"),
                             {"c": account.canonical_id}).scalar()
    assert named == "projected 0"


def test_latency_percentiles_combine_across_flushes(engine: Engine) -> None:
    now = time.time()
    fast = [CallSample("stripe", "GET x", "GET", 200, "ok", 0.004, "c") for _ in range(90)]
    slow = [CallSample("stripe", "GET x", "GET", 200, "ok", 0.8, "c") for _ in range(10)]
    with engine.begin() as conn:
        flush_calls(conn, fast, now=now)
    with engine.begin() as conn:
        flush_calls(conn, slow, now=now)  # another process, same minute: the histograms add up
        p50, p95, p99 = next(iter(percentiles(conn, now - 60)["stripe"].values()))
    assert p50 is not None and p50 <= 0.005
    assert p95 is not None and 0.5 <= p95 <= 1.0 and p99 is not None and p99 <= 1.0


def test_a_worker_recorder_lands_in_the_shared_histograms(engine: Engine) -> None:
    recorder = SeriesCallRecorder(engine, flush_every_s=3600)
    for latency_s in (0.003, 0.004, 0.2):
        recorder.record(CallSample("zendesk", "PUT x", "PUT", 200, "ok", latency_s, "c"))
    with engine.connect() as conn:
        assert "zendesk" not in percentiles(conn, time.time() - 60)  # kept until the interval or a flush
    recorder.flush()
    with engine.connect() as conn:
        (p50, _, p99), = percentiles(conn, time.time() - 60)["zendesk"].values()
    assert p50 is not None and p50 <= 0.005 and p99 is not None and 0.1 <= p99 <= 0.25


def test_latency_is_charted_under_the_tenant_whose_work_made_the_call(engine: Engine) -> None:
    from concord.observability.logs import log_context

    recorder = SeriesCallRecorder(engine, flush_every_s=3600)
    with log_context(tenant="acme"):
        recorder.record(CallSample("stripe", "GET x", "GET", 200, "ok", 0.004, "c1"))
    with log_context(tenant="globex"):
        recorder.record(CallSample("hubspot", "GET y", "GET", 200, "ok", 0.3, "c2"))
    recorder.record(CallSample("zendesk", "GET z", "GET", 200, "ok", 0.01, "c3"))  # outside any tenant's work
    recorder.flush()
    since = time.time() - 60
    with engine.connect() as conn:
        assert set(percentiles(conn, since, tenant="acme")) == {"stripe"}
        assert set(percentiles(conn, since, tenant="globex")) == {"hubspot"}
        assert set(percentiles(conn, since)) == {"stripe", "hubspot", "zendesk"}
