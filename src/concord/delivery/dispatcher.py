"""Delivering outbound commands from the outbox to the target systems' connectors, in order per customer.

A command that fails for a transient reason is deferred with exponential backoff and holds back the later
commands of the same customer (order per customer is kept); other customers go on. A command the target refuses
(`DataRejected`, `Conflict`, …) is marked failed with the system's message and also holds its customer back
until someone acts — the workflow issue turns these into exception tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from concord.connectors.base import Connector, ConnectorError, ExternalRecord, NotFound, RetryableError
from concord.connectors.runtime.http import correlation_scope
from concord.delivery.residency import Residency, ResidencyRefused
from concord.delivery.store import DeliveryStore, PendingCommand
from concord.observability.logs import log_context
from concord.observability.tracing import span


class NotYetBound(RetryableError):
    """An update whose record's create has not been delivered yet."""


@dataclass
class DeliveryReport:
    delivered: int = 0
    deferred: int = 0
    failed: int = 0
    held_back: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class CommandDispatcher:
    store: DeliveryStore
    connectors: Mapping[str, Connector]
    base_delay_s: float = 2.0
    max_delay_s: float = 600.0
    clock: Callable[[], float] = time.time
    residency: Residency = field(default_factory=Residency)  # pinned tenants reach their region's endpoints only

    def run_once(self, limit: int = 1000) -> DeliveryReport:
        report = DeliveryReport()
        blocked: set[str] = set()
        now = self.clock()
        for cmd in self.store.pending(limit):
            if cmd.canonical_id in blocked:
                report.held_back += 1
                continue
            if cmd.next_attempt_at is not None and cmd.next_attempt_at > now:
                blocked.add(cmd.canonical_id)
                report.held_back += 1
                continue
            if not self._deliver(cmd, report):
                blocked.add(cmd.canonical_id)
        return report

    def drain(self, rounds: int = 50) -> DeliveryReport:
        """Deliver until nothing is due (for tests and the demo); returns the summed report."""
        total = DeliveryReport()
        for _ in range(rounds):
            report = self.run_once()
            for name in ("delivered", "deferred", "failed", "held_back"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            if report.delivered == 0:
                break
        return total

    def _deliver(self, cmd: PendingCommand, report: DeliveryReport) -> bool:
        try:
            connector = self.residency.connector(cmd.tenant, cmd.target, self.connectors)
        except ResidencyRefused as exc:  # failed, not deferred: retrying cannot move the data's home
            self.store.failed(cmd, str(exc))
            report.failed += 1
            report.errors.append(f"{cmd.target} {cmd.canonical_id}: {exc}")
            return False
        if connector is None:
            self.store.deferred(cmd, f"no connector configured for {cmd.target}", self._retry_at(cmd))
            report.deferred += 1
            return False
        try:
            record, created = self._apply_observed(connector, cmd)
        except RetryableError as exc:
            self.store.deferred(cmd, str(exc), self._retry_at(cmd, exc.retry_after))
            report.deferred += 1
            return False
        except ConnectorError as exc:
            self.store.failed(cmd, f"{type(exc).__name__}: {exc}")
            report.failed += 1
            report.errors.append(f"{cmd.target} {cmd.canonical_id}: {exc}")
            return False
        self.store.delivered(cmd, record.id, created)
        report.delivered += 1
        return True

    def _apply_observed(self, connector: Connector, cmd: PendingCommand) -> tuple[ExternalRecord, bool]:
        """The delivery under the command's correlation id (sent to the vendor, on every log line, in the
        connector metrics' tenant label) and in a span that the connector call spans nest in."""
        correlation = cmd.correlation_id or None
        attrs = {"concord.system": cmd.target, "concord.entity": cmd.entity, "concord.customer": cmd.canonical_id}
        with log_context(correlation_id=correlation, tenant=cmd.tenant, customer=cmd.canonical_id,
                         step=f"deliver.{cmd.target}"), correlation_scope(correlation), \
                span("delivery.command", attrs):
            return self._apply(connector, cmd)

    def _apply(self, connector: Connector, cmd: PendingCommand) -> tuple[ExternalRecord, bool]:
        payload = cmd.payload
        external_id = payload.get("external_id") or self.store.external_id(
            cmd.tenant, cmd.target, cmd.entity, cmd.canonical_id)
        if external_id is None and payload["op"] == "create":
            record = connector.create(payload["object"], payload["fields"], payload["idempotency_key"])
            return record, True
        if external_id is None:
            raise NotYetBound(cmd.target, f"{cmd.canonical_id} is not bound in {cmd.target} yet")
        try:
            return connector.update(payload["object"], external_id, payload["fields"]), False
        except NotFound as exc:
            raise NotFound(cmd.target, f"bound record {external_id} is gone: {exc.message}") from exc

    def _retry_at(self, cmd: PendingCommand, retry_after: float | None = None) -> float:
        backoff = min(self.base_delay_s * 2 ** cmd.attempts, self.max_delay_s)
        return float(self.clock() + max(backoff, retry_after or 0.0))
