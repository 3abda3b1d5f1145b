"""`concord schemas check|snapshot`, `concord dlq list|show|retry|discard`, `concord replay`,
`concord events relay|consume|subscriptions`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from concord.cli.common import console, database, fail, settings
from concord.events.consumer import SubscriptionRunner
from concord.events.envelope import EventLog
from concord.events.hub import EventSettings, MissingSecret, build_runners, open_log
from concord.events.registry import SNAPSHOT_DIR, SchemaRegistry, check_snapshot, write_snapshot
from concord.events.relay import OutboxRelay
from concord.events.replay import replay as run_replay
from concord.events.routing import RoutingConfig, load_routing
from concord.events.store import ConsumerStore
from concord.tuning import tune_gc_for_throughput
from concord.yamlconf import ConfigError

schemas_app = typer.Typer(help="Event schema registry: compatibility check against the committed snapshot.")
dlq_app = typer.Typer(help="Dead-lettered events: inspect, retry after a fix, or discard.")
events_app = typer.Typer(help="Lifecycle events: outbox relay, subscription consumers.")

SnapshotOpt = Annotated[Path, typer.Option("--snapshot", help="snapshot folder")]


def register(app: typer.Typer) -> None:
    app.add_typer(schemas_app, name="schemas")
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(events_app, name="events")
    app.command("replay")(replay)


@schemas_app.command("check")
def schemas_check(snapshot: SnapshotOpt = SNAPSHOT_DIR) -> None:
    """Fail (exit 1) when a schema changed incompatibly or the snapshot is out of date."""
    report = check_snapshot(SchemaRegistry.default(), snapshot)
    for problem in report.incompatible:
        console.print(f"[bold red]incompatible:[/] {escape(problem)}", highlight=False)
    for problem in report.stale:
        console.print(f"[yellow]stale snapshot:[/] {escape(problem)} (run `concord schemas snapshot`)",
                      highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"{len(SchemaRegistry.default().types())} event types compatible with {snapshot}")


@schemas_app.command("snapshot")
def schemas_snapshot(snapshot: SnapshotOpt = SNAPSHOT_DIR) -> None:
    """Write the registry to the snapshot folder (refused while a change is incompatible)."""
    registry = SchemaRegistry.default()
    report = check_snapshot(registry, snapshot)
    if report.incompatible:
        raise fail("refusing to snapshot incompatible changes: " + "; ".join(report.incompatible), code=1)
    changed = write_snapshot(registry, snapshot)
    console.print(f"{len(changed)} schema file(s) written to {snapshot}")


@contextmanager
def _store() -> Iterator[ConsumerStore]:
    with database(settings()) as engine:
        yield ConsumerStore(engine)


@dlq_app.command("list")
def dlq_list(subscription: Annotated[str | None, typer.Option(help="only this subscription")] = None,
             status: Annotated[str, typer.Option(help="dead | retried | discarded")] = "dead") -> None:
    """Dead letters, oldest first."""
    with _store() as store:
        letters = store.dead_letters(subscription, status, limit=1000)
    table = Table("id", "subscription", "type", "customer", "attempts", "error", "failed at")
    for d in letters:
        table.add_row(str(d.id), d.subscription, d.type, d.customer_key, str(d.attempts), escape(d.error[:80]),
                      datetime.fromtimestamp(d.failed_at, UTC).isoformat(timespec="seconds"))
    console.print(table)


@dlq_app.command("show")
def dlq_show(letter_id: Annotated[int, typer.Argument(help="dead-letter id")]) -> None:
    """The failure, the attempts and the full event."""
    with _store() as store:
        letter = store.dead_letter_by_id(letter_id)
    if letter is None:
        raise fail(f"no dead letter {letter_id}")
    console.print(f"subscription: {letter.subscription}\nstatus: {letter.status}\nattempts: {letter.attempts}\n"
                  f"error: {escape(letter.error)}", highlight=False)
    console.print_json(letter.envelope.model_dump_json())


@dlq_app.command("retry")
def dlq_retry(letter_id: Annotated[int, typer.Argument(help="dead-letter id")]) -> None:
    """Queue the event again for its subscription (after fixing the cause); the consumer retries it next run."""
    with _store() as store:
        letter = store.dead_letter_by_id(letter_id)
        if letter is None or letter.status != "dead":
            raise fail(f"no dead letter {letter_id} waiting for a decision")
        store.retry_dead_letter(letter)
    console.print(f"dead letter {letter_id} queued again for {letter.subscription}")


@dlq_app.command("discard")
def dlq_discard(letter_id: Annotated[int, typer.Argument(help="dead-letter id")]) -> None:
    """Give up on the event (kept in the store, marked discarded)."""
    with _store() as store:
        letter = store.dead_letter_by_id(letter_id)
        if letter is None or letter.status != "dead":
            raise fail(f"no dead letter {letter_id} waiting for a decision")
        store.discard_dead_letter(letter)
    console.print(f"dead letter {letter_id} discarded")


@dataclass
class _Hub:
    engine: Engine
    log: EventLog
    runners: dict[str, SubscriptionRunner]


@contextmanager
def _hub(only: str | None = None) -> Iterator[_Hub]:
    s = settings()
    registry = SchemaRegistry.default()
    try:
        routing = load_routing(s.config_dir, set(registry.types()))
    except ConfigError as exc:
        raise fail("\n".join(exc.problems)) from exc
    if only is not None:
        if only not in routing.subscriptions:
            raise fail(f"unknown subscription {only!r} (known: {', '.join(routing.subscriptions) or 'none'})")
        routing = RoutingConfig(subscriptions={only: routing.subscriptions[only]})
    with database(s) as engine, httpx.Client() as http:
        log = open_log(EventSettings(), engine)
        try:
            runners = build_runners(routing, log, engine, registry, http)
        except MissingSecret as exc:
            log.close()
            raise fail(str(exc)) from exc
        try:
            yield _Hub(engine, log, runners)
        finally:
            for runner in runners.values():
                runner.close()
            log.close()


def _parse_start(value: str) -> int | datetime:
    if value.isdigit():
        return int(value)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--from must be an offset or an ISO 8601 time, not {value!r}") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def replay(subscription: Annotated[str, typer.Option(help="subscription to replay to")],
           start: Annotated[str, typer.Option("--from", help="log offset or ISO 8601 time")],
           customer: Annotated[str | None, typer.Option(help="only this customer key")] = None,
           event_type: Annotated[str | None, typer.Option("--type", help="only this event type")] = None) -> None:
    """Deliver events from the log to a subscription again (subscribers are idempotent; the run is recorded)."""
    position = _parse_start(start)
    with _hub(subscription) as hub:
        report = run_replay(hub.runners[subscription], position, customer, event_type)
    console.print(f"replay #{report.replay_id}: scanned {report.scanned}, delivered {report.delivered}, "
                  f"failed {report.failed}")
    for error in report.errors[:20]:
        console.print(f"  [red]{escape(error)}[/]", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@events_app.command("relay")
def relay(follow: Annotated[bool, typer.Option(help="keep relaying until interrupted")] = False) -> None:
    """Publish committed outbox events to the event log."""
    with _hub() as hub:
        relayer = OutboxRelay(hub.engine, hub.log, SchemaRegistry.default())
        while True:
            report = relayer.drain()
            console.print(f"published {report.published}, duplicates {report.duplicates}, "
                          f"refused {report.rejected}")
            for error in report.errors[:20]:
                console.print(f"  [red]{escape(error)}[/]", highlight=False)
            if not follow:
                return
            time.sleep(0.5)


@events_app.command("consume")
def consume(subscription: Annotated[str | None, typer.Option(help="only this subscription")] = None,
            follow: Annotated[bool, typer.Option(help="keep consuming until interrupted")] = False) -> None:
    """Deliver the log's events to the configured subscriptions."""
    with _hub(subscription) as hub:
        if follow:
            tune_gc_for_throughput()
        while True:
            for name, runner in hub.runners.items():
                report = runner.drain()
                console.print(f"{name}: processed {report.processed}, skipped {report.skipped}, parked "
                              f"{report.parked}, retried {report.retried}, dead-lettered {report.dead_lettered}")
            if not follow:
                return
            time.sleep(0.5)


@events_app.command("subscriptions")
def subscriptions() -> None:
    """The subscriptions from events.yaml."""
    s = settings()
    try:
        routing = load_routing(s.config_dir, set(SchemaRegistry.default().types()))
    except ConfigError as exc:
        raise fail("\n".join(exc.problems)) from exc
    table = Table("subscription", "events", "subscriber", "max attempts")
    for name, cfg in routing.subscriptions.items():
        table.add_row(name, ", ".join(cfg.events), cfg.subscriber.kind, str(cfg.max_attempts))
    console.print(table)
