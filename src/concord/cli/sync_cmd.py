"""`concord sync --connections FILE`: the sync loop of the embedded default in the foreground (decision 078):
outbox commands delivered to the systems, `capture:` entries polled into golden records, until Ctrl-C/SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from concord.cli.common import err_console, fail, runtime, settings
from concord.hubconfig import Runtime
from concord.scale.settings import ScaleConfigError
from concord.settings import Settings
from concord.yamlconf import ConfigError

SCALE_REFUSAL = ("CONCORD_SCALE is on: scale workers (`concord worker --connectors`) deliver and own the outbox; "
                 "`concord sync` does not run beside them")


def run_sync(s: Settings, rt: Runtime, connections: Path, stop: threading.Event) -> str:
    """Run the loop until `stop` is set; a summary line. Raises ConfigError / ScaleConfigError before starting."""
    from concord.delivery.sync_plan import hosted_sync, plan_sync
    from concord.ingest.service import IngestService
    from concord.security.install import start_security
    from concord.storage.engine import make_engine, upgrade

    plan = plan_sync(connections, rt)  # checked before the database is touched: a bad file changes nothing
    engine = make_engine(s.database_url, s.sqlite_synchronous)
    try:
        upgrade(engine)
        start_security(engine, rt)  # map with the activated mapping versions, as the server does
        service = IngestService(engine, rt, s.max_batch)
        service.start()
        try:
            with hosted_sync(plan, engine, service, s.sync_idle_s) as loop:
                stop.wait()
            applied = sum(p.applied for p in loop.pollers)
            return f"sync stopped: {loop.delivery.delivered} commands delivered, {applied} captured changes applied"
        finally:
            service.stop()
    finally:
        engine.dispose()


def sync(connections: Annotated[Path | None, typer.Option(
        dir_okay=False, help="systems YAML (deploy/connectors.yaml.example) with optional `capture:` entries; "
                             "default $CONCORD_CONNECTIONS")] = None) -> None:
    """Deliver outbound commands and capture changes from the systems of a connections file, in the foreground,
    until Ctrl-C or SIGTERM (`concord serve --connections` runs the same loop in-process unless --no-sync)."""
    from concord.workflows.hosting import NoConnections, connections_file

    s = settings()
    if s.scale:
        raise fail(SCALE_REFUSAL)
    try:
        path = connections_file(s, connections)
    except NoConnections as exc:
        raise fail(str(exc)) from exc
    rt = runtime(s)
    logging.basicConfig(level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        summary = run_sync(s, rt, path, stop)
    except (ConfigError, ScaleConfigError) as exc:
        raise fail(str(exc)) from exc
    err_console.print(summary)
