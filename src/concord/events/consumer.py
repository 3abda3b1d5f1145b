"""Running one subscription: fetch from the log, skip what the ledger has seen, hand each event (upcast to its
newest schema) to the subscriber, park failures for retry with backoff, dead-letter them after N attempts.

Order per customer: an event that fails is parked, and every later event of the same customer is parked behind
it (in the database, so the order survives restarts); the log is acknowledged either way, so other customers
keep flowing. Each batch is one transaction: the subscriber's own writes, the ledger rows and the parked rows
commit together, and the log is acknowledged only after that commit — a crash in between redelivers events the
ledger already holds, which are then skipped. A batch that cannot commit at all is held and tried again with
backoff before anything newer is fetched; on close it is nak'd, so the log hands it out again at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine

from concord.events.envelope import EventEnvelope, EventLog, StoredEvent
from concord.events.registry import SchemaRegistry
from concord.events.store import ConsumerStore, Parked


class Subscriber(Protocol):
    """Where a subscription's events go. `handle` may write through `tx` (exactly once with the ledger) or call
    out (at least once: it receives the event id to de-duplicate on); `flush` runs before each batch commits.

    `transactional` says whether `handle` writes through `tx`: only then does each call need a savepoint so a
    failure leaves no partial writes (a savepoint per event was 70% of the embedded consumer's time).
    """

    @property
    def transactional(self) -> bool: ...

    def handle(self, event: EventEnvelope, tx: Connection) -> None: ...

    def flush(self, tx: Connection) -> None: ...


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 300.0

    def delay(self, attempts: int) -> float:
        return float(min(self.base_s * 2 ** max(attempts - 1, 0), self.max_s))


@dataclass
class ConsumeReport:
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    skipped: int = 0  # not matched by the subscription's routing rule
    parked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    failed_batches: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ConsumeReport) -> None:
        for name in ("fetched", "processed", "duplicates", "skipped", "parked", "retried", "dead_lettered",
                     "failed_batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


_BEHIND = "(waiting behind an earlier failure)"
_RECHECK_S = 1.0  # how late a retry parked by another process (`concord dlq retry`) may be noticed


def _accept_all(_event: EventEnvelope) -> bool:
    return True


@dataclass
class SubscriptionRunner:
    name: str
    log: EventLog
    engine: Engine
    subscriber: Subscriber
    registry: SchemaRegistry
    accepts: Callable[[EventEnvelope], bool] = _accept_all
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.time
    lanes: int = 1  # customers handled side by side (subscribers that do not write through the transaction)

    def __post_init__(self) -> None:
        self.store = ConsumerStore(self.engine)
        self._pool: ThreadPoolExecutor | None = None
        self._held: list[StoredEvent] = []
        self._held_until = 0.0
        self._held_failures = 0
        # After a committed batch saw nothing parked and parked nothing, the due-retry lookup (its own
        # connection and a grouped query: a fifth of a small batch's database time) can only find what someone
        # else parked since — `concord dlq retry` from another process. So it is skipped for up to
        # _RECHECK_S while nothing is known to be parked; `drain` always looks (docs/decisions/075).
        self._none_parked = False
        self._looked_at = 0.0

    def run_once(self, max_events: int = 500, wait_s: float = 0.0) -> ConsumeReport:
        report = ConsumeReport()
        if self._held:  # a batch that could not commit goes first, alone, so no later event overtakes it
            if self.clock() >= self._held_until:
                self._consume(self._held, report)
            return report
        self._retry_due(report)
        events = self.log.fetch(self.name, max_events, wait_s)
        report.fetched = len(events)
        if events:
            self._consume(events, report)
        return report

    def drain(self, rounds: int = 1000, max_events: int = 500) -> ConsumeReport:
        """Consume until the log has nothing new and no retry is due (tests, demo, CLI)."""
        self._none_parked = False  # look for due retries first, whoever parked them
        total = ConsumeReport()
        for _ in range(rounds):
            report = self.run_once(max_events)
            total.add(report)
            if report.fetched == 0 and report.retried == 0 and report.dead_lettered == 0:
                break
        return total

    def _consume(self, events: list[StoredEvent], report: ConsumeReport) -> None:
        try:
            with self.engine.begin() as tx:
                none_parked = self._consume_in(tx, events, report)
        except Exception as exc:  # the batch did not commit (database down?): nothing happened, try it again
            self._held_failures += 1
            self._held, self._held_until = events, self.clock() + self.backoff.delay(self._held_failures)
            report.failed_batches += 1
            report.errors.append(f"batch refused: {type(exc).__name__}: {exc}")
            return
        self._held, self._held_failures, self._none_parked = [], 0, none_parked
        self.log.ack(self.name, events)

    def _consume_in(self, tx: Connection, events: list[StoredEvent], report: ConsumeReport) -> bool:
        """Handle one batch inside `tx`; returns whether the subscription has nothing parked afterwards."""
        envelopes = [e.envelope for e in events]
        parked_before = report.parked
        self._none_parked = False  # unknown until this batch commits
        parked_ids, blocked = self.store.parked_now(tx, self.name)
        done = self.store.handled(tx, self.name, [e.event_id for e in envelopes]) | parked_ids
        todo: list[EventEnvelope] = []
        for env in envelopes:
            if env.event_id in done:
                report.duplicates += 1
                continue
            done.add(env.event_id)
            if not self.accepts(env):
                report.skipped += 1
            elif env.customer_key in blocked:
                self.store.park(tx, self.name, env, 0, self.clock(), None)
                report.parked += 1
            else:
                todo.append(env)
        outcomes = self._attempt_all(tx, todo)
        processed: list[str] = []
        for env in todo:
            error = outcomes.get(env.event_id, _BEHIND)
            if error is None:
                processed.append(env.event_id)
            elif error is _BEHIND:  # an earlier event of this customer failed in this batch: wait behind it
                self.store.park(tx, self.name, env, 0, self.clock(), None)
                report.parked += 1
            else:
                self._first_failure(tx, env, error, report)
        self.subscriber.flush(tx)
        self.store.mark_processed(tx, self.name, processed)
        report.processed += len(processed)
        return not parked_ids and report.parked == parked_before

    def _attempt_all(self, tx: Connection, todo: list[EventEnvelope]) -> dict[str, str | None]:
        """Event id → error (None: done). Per customer in order, stopping at its first failure. Customers run
        side by side on `lanes` threads when the subscriber does not write through the transaction (a
        connection cannot be shared between threads; webhooks, where parallelism matters, never need it)."""
        by_customer: dict[str, list[EventEnvelope]] = {}
        for env in todo:
            by_customer.setdefault(env.customer_key, []).append(env)

        def run(chain: list[EventEnvelope]) -> dict[str, str | None]:
            out: dict[str, str | None] = {}
            for env in chain:
                out[env.event_id] = error = self.attempt(tx, env)
                if error is not None:
                    break
            return out

        outcomes: dict[str, str | None] = {}
        if self.lanes > 1 and len(by_customer) > 1 and not self.subscriber.transactional:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix=f"sub-{self.name}")
            for part in self._pool.map(run, by_customer.values()):
                outcomes.update(part)
        else:
            for chain in by_customer.values():
                outcomes.update(run(chain))
        return outcomes

    def close(self) -> None:
        """Stop: hand a batch that never committed back to the log at once (not after the ack wait)."""
        for event in self._held:
            self.log.nak(self.name, event, 0.0)
        self._held = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _first_failure(self, tx: Connection, env: EventEnvelope, error: str, report: ConsumeReport) -> None:
        report.errors.append(f"{env.type} {env.event_id}: {error}")
        if self.max_attempts <= 1:
            blocked_row = Parked(0, self.name, env.customer_key, env, 1, 0.0)
            self.store.insert_dead(tx, blocked_row, 1, error)
            report.dead_lettered += 1
            return
        self.store.park(tx, self.name, env, 1, self.clock() + self.backoff.delay(1), error)
        report.parked += 1

    def attempt(self, tx: Connection, env: EventEnvelope) -> str | None:
        """Run the subscriber inside a savepoint, so a failure leaves no partial writes; returns the error."""
        try:
            if self.subscriber.transactional:
                with tx.begin_nested():
                    self.subscriber.handle(self.registry.upcast(env), tx)
            else:
                self.subscriber.handle(self.registry.upcast(env), tx)
        except Exception as exc:  # any subscriber failure is retried, then dead-lettered with its message
            return f"{type(exc).__name__}: {exc}"
        return None

    def _retry_due(self, report: ConsumeReport, rounds: int = 100) -> None:
        if self._none_parked and time.monotonic() - self._looked_at < _RECHECK_S:
            return
        self._looked_at = time.monotonic()
        for _ in range(rounds):
            heads = self.store.due_heads(self.name, self.clock(), limit=200)
            if not heads:
                return
            for parked in heads:
                self._retry(parked, report)

    def _retry(self, parked: Parked, report: ConsumeReport) -> None:
        with self.engine.begin() as tx:
            error = self.attempt(tx, parked.envelope)
            self.subscriber.flush(tx)
            if error is None:
                self.store.settle(tx, parked)
                report.retried += 1
                return
            attempts = parked.attempts + 1
            report.errors.append(f"{parked.envelope.type} {parked.envelope.event_id} attempt {attempts}: {error}")
            if attempts >= self.max_attempts:
                self.store.insert_dead(tx, parked, attempts, error)
                report.dead_lettered += 1
            else:
                self.store.reschedule(tx, parked, attempts, self.clock() + self.backoff.delay(attempts), error)
