"""Crash safety: the worker is SIGKILLed at each onboarding step in turn — right after the step's effect, before
DBOS recorded it — and a new worker finishes the run. Every run must end with exactly one ERP party, one CRM
write-back, one billing customer and subscription, one SCIM group and one support organization."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from concord.connectors.tryton import TrytonConnector
from concord.hubconfig import Runtime
from concord.workflows.faults import CRASH_ENV
from tests.workflows.support import Systems, crm_customer

pytestmark = [pytest.mark.tryton, pytest.mark.slow]

CRASH_POINTS = ["lifecycle-onboarding", "erp-create", "erp-record", "crm-write-back", "publish-onboarded",
                "provision-scim", "provision-zendesk", "provision-stripe"]
ROOT = Path(__file__).resolve().parents[2]


def _worker(args: list[str], crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "tests.workflows.crash_worker", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def _effects(systems: Systems, erp: TrytonConnector, customer: str, sf_id: str) -> dict[str, int]:
    subscriptions = [s for s in systems.stripe.state.twin.store.newest_first("subscription")
                     if (s.get("metadata") or {}).get("concord_id") == customer]
    billing = [c for c in systems.stripe.state.twin.store.newest_first("customer")
               if (c.get("metadata") or {}).get("concord_id") == customer]
    groups = [r for r in systems.scim.storage.resources
              if r.meta is not None and r.meta.resource_type == "Group" and r.external_id == f"{customer}:customer"]
    orgs = [o for o in systems.zendesk.state.store.list_organizations() if o.external_id == customer]
    return {"erp_party": len(erp.search("party", {"code": customer})),
            "crm_write_back": systems.counters["salesforce"].count("PATCH", f"/sobjects/Account/{sf_id}"),
            "billing_customer": len(billing), "subscription": len(subscriptions), "scim_group": len(groups),
            "support_org": len(orgs)}


def test_sigkill_at_each_step_then_restart_creates_everything_exactly_once(
        systems: Systems, runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    """Worker k finishes the run worker k-1 left behind, then starts customer k and dies at crash point k."""
    connections = str(systems.write_connections(tmp_path / "connections.yaml"))
    price = systems.price()
    customers = [crm_customer(systems, runtime, database_url, f"Crash {point} SA") for point in CRASH_POINTS]
    finished: list[tuple[str, str]] = []
    previous = "-"
    for point, (customer, _) in zip([*CRASH_POINTS, None], [*customers, ("-", "-")], strict=True):
        crash = None if point is None else f"{point}@{customer}"
        worker = _worker([database_url, connections, price, previous, customer], crash)
        expected = 0 if point is None else -signal.SIGKILL
        assert worker.returncode == expected, (point, worker.stderr[-3000:])
        if previous != "-":
            view = json.loads(worker.stdout.strip().splitlines()[0])
            assert view["status"] == "completed", view
            finished.append(next(c for c in customers if c[0] == previous))
        previous = customer
    erp = systems.build().build()["tryton"]
    assert isinstance(erp, TrytonConnector)
    try:
        effects = {point: _effects(systems, erp, customer, sf_id)
                   for point, (customer, sf_id) in zip(CRASH_POINTS, finished, strict=True)}
    finally:
        erp.close()
    once = {"erp_party": 1, "crm_write_back": 1, "billing_customer": 1, "subscription": 1, "scim_group": 1,
            "support_org": 1}
    assert effects == {point: once for point in CRASH_POINTS}
