"""Processes started by events: the routing rules' `workflow_signal` subscriber writes a `workflow_signals` row in
the same transaction as the event's processing; this starter turns each unconsumed row naming a process into a
start (idempotent: the business key makes a second signal for the same customer return the running process).

    closed-won:                # in events.yaml
      events: [ContractCreated, ContractUpdated]
      where: {source_systems: [salesforce], field_values: {sales_stage: [closed_won]}}
      subscriber: {kind: workflow_signal, workflow: activate-contract, signal: start,
                   otherwise: [onboard-customer], request: {contract_id: data.canonical_id},
                   request_values: {activated_by: salesforce}}

A start that cannot be made (bad request, unknown customer, a lifecycle state that allows none of the processes,
an `otherwise` alternative whose run for the customer ended long ago) never blocks the queue: the signal is
consumed and the refusal recorded as a dead letter of its subscription, with the reason (`concord dlq list`;
`concord dlq retry` signals again once the data is fixed).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, delete, select, update

from concord.events import tables as et
from concord.events.tables import workflow_signals
from concord.workflows.engine import WorkflowEngine
from concord.workflows.processes import ProcessSpec, RunView, start_process

log = logging.getLogger(__name__)
START = "start"
# What makes a start impossible for this signal, as opposed to a passing fault (database busy): bad input
# (ValidationError), an unknown customer (LookupError), a state that forbids it (IllegalTransition and the
# lifecycle processes' NotAllowedInState are ValueErrors).
REFUSALS: tuple[type[Exception], ...] = (ValidationError, LookupError, ValueError)
ENDED = ("completed", "cancelled", "failed")


@dataclass(frozen=True)
class Refused:
    reason: str


class SignalStarter:
    def __init__(self, engine: WorkflowEngine, specs: dict[str, ProcessSpec], batch: int = 100) -> None:
        self.engine = engine
        self.specs = specs
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Start a process for every waiting start signal; returns how many signals were consumed."""
        w = workflow_signals.c
        db = self.engine.services.engine
        query = (select(w.id, w.workflow, w.tenant, w.customer_key, w.event_id, w.payload)
                 .where(w.consumed_at.is_(None), w.signal == START, w.workflow.in_(list(self.specs)))
                 .order_by(w.id).limit(self.batch))
        with db.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            envelope = orjson.loads(row.payload)
            outcome = self._start(row.workflow, row.tenant, row.customer_key, envelope)
            with db.begin() as tx:  # consumed after the start is durable: a crash in between starts twice, the
                tx.execute(update(workflow_signals).where(w.id == row.id).values(consumed_at=time.time()))
                if isinstance(outcome, Refused):  # second start finds the first run by its business key
                    self._record_refusal(tx, row.workflow, envelope, outcome.reason)
        return len(rows)

    def _start(self, workflow: str, tenant: str, customer: str, envelope: dict[str, Any]) -> RunView | Refused:
        route = envelope.get("route") or {}
        names = [workflow, *(n for n in route.get("otherwise", []) if n != workflow)]
        fields = {**route.get("request", {}), "tenant": tenant, "correlation_id": envelope.get("correlation_id")}
        fields.setdefault("customer_id", customer)
        reasons = []
        for name in names:
            spec = self.specs.get(name)
            if spec is None:
                reasons.append(f"{name}: no such process in this worker")
                continue
            # The rule's request is written for its first process (checked strictly); an alternative takes the
            # fields its own request knows.
            own = fields if name == workflow else {k: v for k, v in fields.items() if k in spec.request.model_fields}
            try:
                view = start_process(self.engine, spec, spec.request.model_validate(own))
            except REFUSALS as exc:
                reasons.append(f"{name}: {_reason(exc)}")
                continue
            if name != workflow and not view.created and view.status in ENDED:
                # An alternative is there to start something: its run having ended long ago (a suspended
                # customer's onboarding) means nothing takes this signal — a refusal, not a silent success.
                reasons.append(f"{name}: its run {view.workflow_id} has already ended ({view.status})")
                continue
            return view
        reason = "; ".join(reasons)
        level = logging.INFO if route.get("on_refusal") == "ignore" else logging.WARNING
        log.log(level, "signal %s on %s/%s started nothing: %s", envelope.get("type"), tenant, customer, reason)
        return Refused(reason)

    def _record_refusal(self, tx: Connection, workflow: str, envelope: dict[str, Any], reason: str) -> None:
        route = envelope.get("route") or {}
        if route.get("on_refusal") == "ignore":
            return
        subscription = route.get("subscription") or f"workflow-start:{workflow}"
        d = et.event_dead_letters.c
        event_id = str(envelope.get("event_id"))
        # The signal row and the subscription's processed mark go with it, as if the subscription had dead-lettered
        # the event itself: `concord dlq retry` delivers the event to it again, which signals again (a refusal
        # after that replaces this letter).
        tx.execute(delete(et.event_dead_letters).where(d.subscription == subscription, d.event_id == event_id))
        p = et.event_processed.c
        tx.execute(delete(et.event_processed).where(p.subscription == subscription, p.event_id == event_id))
        tx.execute(delete(workflow_signals).where(workflow_signals.c.workflow == workflow,
                                                  workflow_signals.c.event_id == event_id))
        plain = {k: v for k, v in envelope.items() if k != "route"}
        tx.execute(et.event_dead_letters.insert().values(
            subscription=subscription, event_id=event_id, customer_key=str(envelope.get("customer_key")),
            type=str(envelope.get("type")), envelope=orjson.dumps(plain).decode(), attempts=1,
            error=f"start refused: {reason}"[:2000], failed_at=time.time(), status="dead"))

    def start(self, interval_s: float = 1.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.poll()
                except Exception:  # the next tick retries; a starter thread must not die
                    log.exception("workflow signal poll failed")

        self._thread = threading.Thread(target=loop, name="concord-workflow-signals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
