"""A workflow worker in its own process, for the crash tests.

    python -m tests.workflows.crash_worker DB_URL CONNECTIONS PRICE FINISH START [CONTRACT]

Launching the engine resumes the run the previous (killed) worker left pending; the worker waits for the run of
customer FINISH to end and prints its view as JSON, then starts onboarding for customer START and waits for it —
with CONCORD_WORKFLOW_CRASH_AT=<step>@<START> it is SIGKILLed at that step. "-" skips either part. CONTRACT: the
onboarding carries that won deal (decision 076: it converts a lead first and places the deal's order last).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from concord.hubconfig import load_runtime
from concord.storage.engine import make_engine
from concord.workflows.connections import Connections
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.onboarding_model import LegalEntity, OnboardRequest, workflow_id_for
from concord.workflows.processes import process_specs, run_view, start_process
from tests.workflows.support import be_vat

DONE = ("completed", "cancelled", "failed")


def _finish(engine: WorkflowEngine, customer: str) -> None:
    workflow_id = workflow_id_for("default", customer)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = run_view(engine, workflow_id)
        if view is not None and view.status in DONE:
            print(view.model_dump_json(), flush=True)
            return
        time.sleep(0.05)
    raise SystemExit(f"run {workflow_id} did not finish")


def main(database_url: str, connections: str, price: str, finish: str, start: str, contract: str = "-") -> None:
    from concord.workflows.services import standard_services

    db = make_engine(database_url, sqlite_synchronous="NORMAL")
    services = standard_services(db, load_runtime(None), Connections.load(Path(connections)).build(), None)
    settings = WorkflowSettings(database_url=database_url, sqlite_synchronous="NORMAL", task_poll_s=1.0)
    with WorkflowEngine(settings, services) as engine:
        if finish != "-":
            _finish(engine, finish)
        if start != "-":
            request = OnboardRequest(customer_id=start, admin_email=f"admin-{start}@crash.example",
                                     plan_price=price, seats=2,
                                     legal_entity=LegalEntity(tax_id=be_vat(start), tax_id_type="eu_vat"),
                                     contract_id=None if contract == "-" else contract)
            start_process(engine, process_specs()["onboard-customer"], request)
            _finish(engine, start)


if __name__ == "__main__":
    main(*sys.argv[1:])
