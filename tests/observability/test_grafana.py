"""The Grafana dashboard in deploy/ is valid JSON and queries only metrics that /metrics really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.console.conftest import OpsRun

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
METRIC = re.compile(r"\b(concord_[a-z_]+)")


def test_every_panel_queries_an_exported_metric(ops_run: OpsRun) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in METRIC.findall(target["expr"])}
    ops_run.client.get("/api/v1/experience/customers/cus_0003")  # at least one API latency sample
    families = list(text_string_to_metric_families(ops_run.client.get("/metrics").text))
    exported = {sample.name for family in families for sample in family.samples}
    exported |= {f.name + ("_total" if f.type == "counter" else "") for f in families}  # declared, no sample yet
    exported |= {"concord_rate_limit_headroom", "concord_rate_limit_capacity", "concord_daily_quota_remaining",
                 "concord_daily_quota_limit", "concord_connector_call_seconds_bucket",
                 "concord_connector_call_errors_total"}  # live series: present once a connector runs
    exported |= {"concord_workflow_runs", "concord_workflow_oldest_pending_seconds",
                 "concord_workflow_executors"}  # from the journal, once workflows ran (test_workflow_metrics)
    assert len(queried) >= 12
    assert queried <= exported, queried - exported
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "tenant", "system"}
