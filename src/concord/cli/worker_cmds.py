"""`concord worker` (scale mode) and `concord scale publish|status|drain`."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from concord.cli.common import console, err_console, fail, runtime, settings
from concord.ingest.models import ChangeCreate
from concord.ingest.prepare import Rejected, prepare
from concord.scale.bus import ChangeBus
from concord.scale.leases import lease_table, request_drain
from concord.scale.runner import open_database, run_worker
from concord.scale.settings import ScaleConfigError, ScaleSettings
from concord.security.install import start_security

scale_app = typer.Typer(help="Scale mode: publish changes to the partitioned bus, see and drain workers.")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(scale_app, name="scale")


def scale_settings() -> ScaleSettings:
    try:
        return ScaleSettings()
    except ValidationError as exc:
        problems = "; ".join(f"CONCORD_SCALE_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise fail(problems) from exc


def checked_scale_settings() -> ScaleSettings:
    """Scale mode of `concord serve`: refuse to start (naming the setting) when NATS cannot be reached."""
    scale = scale_settings()
    try:
        scale.check()
        ChangeBus(scale).close()
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    return scale


def worker(connectors: Annotated[Path | None, typer.Option(
               exists=True, dir_okay=False, help="connector settings (YAML); without it the worker only ingests")]
           = None) -> None:
    """Run one scale-mode worker (PostgreSQL + NATS JetStream, see CONCORD_SCALE_* settings). SIGTERM or
    Ctrl-C hands its partitions over and stops it; `concord scale drain` does the same from elsewhere."""
    s = settings()
    rt = runtime(s)
    scale = scale_settings()
    try:  # a wrong database URL must fail here with the setting's name, not as a traceback from the migrations
        scale.check()
        engine = open_database(s.database_url)
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    try:
        start_security(engine, rt)  # map with the activated mapping versions, as the server does
    finally:
        engine.dispose()
    logging.basicConfig(level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = run_worker(s.database_url, rt, scale, stop, connectors)
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    err_console.print(f"worker stopped: {stats}")


@scale_app.command("publish")
def publish(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines of changes")],
            batch: Annotated[int, typer.Option(min=1, max=10_000, help="changes per publish")] = 1000) -> None:
    """Validate changes and publish them to the bus; returns once JetStream holds every one (durable)."""
    rt = runtime(settings())
    scale = scale_settings()
    pending: list[ChangeCreate] = []
    problems: list[str] = []
    for number, line in enumerate(file.open("rb"), start=1):
        if not line.strip():
            continue
        try:
            change = ChangeCreate.model_validate_json(line)
            prepare(rt, change)  # refuse here what a worker would refuse: the caller hears about it now
            pending.append(change)
        except ValidationError as exc:
            problems.append(f"line {number}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
        except Rejected as exc:
            problems.append(f"line {number}: {exc.error.field}: {exc.error.detail}")
    try:
        bus = ChangeBus(scale)
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    try:
        bus.ensure_stream()
        for start in range(0, len(pending), batch):
            bus.publish(pending[start:start + batch])
    finally:
        bus.close()
    for problem in problems[:20]:
        err_console.print(f"[red]{problem}[/]", highlight=False)
    console.print(f"published={len(pending)} refused={len(problems)}")
    if problems:
        raise typer.Exit(1)


@scale_app.command("status")
def status() -> None:
    """Live workers and how many partitions each holds."""
    try:
        engine = open_database(settings().database_url)
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    table = Table("worker", "host", "pid", "heartbeat age (s)", "draining", "partitions")
    for row in lease_table(engine):
        table.add_row(*(str(row[k]) for k in ("worker", "host", "pid", "heartbeat_age_s", "draining", "partitions")))
    engine.dispose()
    console.print(table)


@scale_app.command("drain")
def drain(worker_id: Annotated[str, typer.Argument(help="the worker's id (see `concord scale status`)")]) -> None:
    """Ask a worker to hand its partitions to the others and exit (before maintenance or scaling down)."""
    try:
        engine = open_database(settings().database_url)
    except ScaleConfigError as exc:
        raise fail(str(exc)) from exc
    found = request_drain(engine, worker_id)
    engine.dispose()
    if not found:
        raise fail(f"no live worker {worker_id!r}", 1)
    console.print(f"{worker_id} will hand its partitions over within one heartbeat and stop")
