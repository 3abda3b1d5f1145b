"""Waking runs paused on credit when a hold is released elsewhere than through release-credit-hold (finance
changes the lifecycle through the API, an ERP integration reports it): the `credit-signals` routing rule writes a
`workflow_signals` row for every CreditHoldReleased / CreditStatusChanged event, and this waker sends on the
`credit` topic to the customer's paused renewals and amendments. A woken run re-checks ERP itself, so a wake-up
for a hold that still stands costs one check and nothing else; the poll in `credit_gate` covers a lost one."""

from __future__ import annotations

import time

import orjson
from sqlalchemy import select, update

from concord.events.tables import workflow_signals
from concord.workflows.credit_hold import paused_prefixes
from concord.workflows.engine import WorkflowEngine
from concord.workflows.journal import list_runs
from concord.workflows.lifecycle_model import CREDIT_TOPIC
from concord.workflows.signals import SignalStarter

CREDIT_WORKFLOW = "credit"  # `workflow:` of the credit-signals rule in events.yaml
WAKING = frozenset({"CreditHoldReleased", "CreditStatusChanged"})


class CreditSignalWaker(SignalStarter):
    """Runs beside the signal starter (same polling thread lifecycle: `start()`, `stop()`)."""

    def __init__(self, engine: WorkflowEngine, batch: int = 100) -> None:
        super().__init__(engine, {}, batch)

    def poll(self) -> int:
        """Wake the paused runs of every customer with a waiting credit signal; returns the runs woken."""
        w = workflow_signals.c
        db = self.engine.services.engine
        query = (select(w.id, w.tenant, w.customer_key, w.payload)
                 .where(w.consumed_at.is_(None), w.workflow == CREDIT_WORKFLOW).order_by(w.id).limit(self.batch))
        with db.connect() as conn:
            rows = conn.execute(query).all()
        woken = 0
        for row in rows:
            if orjson.loads(row.payload).get("type") in WAKING:
                woken += self._wake(row.tenant, row.customer_key)
            with db.begin() as tx:  # after the sends: a crash in between wakes twice, which is harmless
                tx.execute(update(workflow_signals).where(w.id == row.id).values(consumed_at=time.time()))
        return woken

    def _wake(self, tenant: str, customer: str) -> int:
        paused = list_runs(statuses=["PENDING"], prefixes=paused_prefixes(tenant, customer))
        for run in paused:
            self.engine.send(run.workflow_id, CREDIT_TOPIC, "released")
        return len(paused)
