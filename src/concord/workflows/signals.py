"""Processes started by events: the routing rules' `workflow_signal` subscriber writes a `workflow_signals` row in
the same transaction as the event's processing; this starter turns each unconsumed row naming a process into a
start (idempotent: the business key makes a second signal for the same customer return the running process).

    onboarding-start:          # in events.yaml
      events: [CustomerUpdated]
      where: {lifecycle_states: [onboarding]}
      subscriber: {kind: workflow_signal, workflow: onboard-customer, signal: start}
"""

from __future__ import annotations

import logging
import threading
import time

import orjson
from pydantic import ValidationError
from sqlalchemy import select, update

from concord.canonical.lifecycle import IllegalTransition
from concord.events.tables import workflow_signals
from concord.workflows.engine import WorkflowEngine
from concord.workflows.processes import ProcessSpec, UnknownCustomer, start_process

log = logging.getLogger(__name__)
START = "start"


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
        query = (select(w.id, w.workflow, w.tenant, w.customer_key, w.payload)
                 .where(w.consumed_at.is_(None), w.signal == START, w.workflow.in_(list(self.specs)))
                 .order_by(w.id).limit(self.batch))
        with db.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            self._start(self.specs[row.workflow], row.tenant, row.customer_key, row.payload)
            with db.begin() as tx:  # consumed after the start is durable: a crash in between starts twice, the
                tx.execute(update(workflow_signals).where(w.id == row.id).values(consumed_at=time.time()))
        return len(rows)  # second start finds the first run by its business key

    def _start(self, spec: ProcessSpec, tenant: str, customer: str, payload: str) -> None:
        envelope = orjson.loads(payload)
        try:
            request = spec.request.model_validate({"tenant": tenant, "customer_id": customer,
                                                   "correlation_id": envelope.get("correlation_id")})
            start_process(self.engine, spec, request)
        except (ValidationError, UnknownCustomer, IllegalTransition) as exc:
            # A signal that cannot start its process is dropped with a trace: nothing will make it valid later.
            log.warning("signal for %s on %s/%s not started: %s", spec.name, tenant, customer, exc)

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
