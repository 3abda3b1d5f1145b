"""`concord reconcile` and `concord backfill` (and, via `register`, the merge and review commands)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from concord.cli.common import console, database, fail, runtime, settings
from concord.connectors.base import Connector, ConnectorError
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.reconciliation.backfill import BackfillReport, backfill
from concord.reconciliation.connectors import connector_for
from concord.reconciliation.engine import DriftReport, ReconcileError, Reconciler
from concord.reconciliation.heal import heal as run_heal
from concord.security import mapping_sync
from concord.yamlconf import ConfigError

System = Annotated[str, typer.Option("--system", help="the system to compare or load, e.g. tryton")]
Entity = Annotated[str, typer.Option(help="canonical entity")]
Tenant = Annotated[str, typer.Option(help="tenant")]
ConnectorsFile = Annotated[Path, typer.Option("--connectors", envvar="CONCORD_CONNECTORS_FILE",
                                              help="YAML: system → connector settings")]


@contextmanager
def _connector(path: Path, system: str) -> Iterator[Connector]:
    try:
        connector = connector_for(path, system)
    except ConfigError as exc:
        raise fail("; ".join(exc.problems)) from exc
    try:
        yield connector
    finally:
        connector.close()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} records"),
                    TimeElapsedColumn(), console=console, transient=True)


def _print_report(report: DriftReport, limit: int = 50) -> None:
    counts = report.counts()
    console.print(f"{report.system} {report.entity}: {report.records:,} records read, {report.compared:,} compared "
                  f"in {report.seconds:.1f}s — " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if not report.drifts:
        return
    table = Table("kind", "heal", "canonical id", "external id", "field", "golden", "system", "owner",
                  title=f"Drift ({len(report.drifts)}, first {min(limit, len(report.drifts))})")
    for d in report.drifts[:limit]:
        table.add_row(d.kind.value, d.heal.value, escape(d.canonical_id or ""), escape(d.external_id or ""),
                      escape(d.field or ""), escape(json.dumps(d.golden, default=str)),
                      escape(json.dumps(d.system_value, default=str)), d.owner or "")
    console.print(table)


def reconcile(
    system: System, connectors: ConnectorsFile = Path("connectors.yaml"), entity: Entity = "account",
    tenant: Tenant = "default",
    heal: Annotated[bool, typer.Option("--heal", help="fix the drift (default: report only, a dry run)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    incremental: Annotated[bool, typer.Option(help="only records changed since the last run")] = False,
    every: Annotated[float | None, typer.Option("--every", help="run again every SECONDS (scheduled mode)")] = None,
) -> None:
    """Compare a system's records with the golden records: missing, extra, field drift, deleted upstream."""
    s = settings()
    rt = runtime(s)
    with database(s) as engine, _connector(connectors, system) as connector:
        reconciler = None
        while True:
            # Compare with the mapping in force now (activated versions, decision 071), not the file's; a
            # scheduled run follows activations made elsewhere between rounds.
            if mapping_sync.sync_engine(engine, rt, interval=0.0) or reconciler is None:
                try:
                    reconciler = Reconciler(engine, rt, tenant, system, entity, connector)
                except ReconcileError as exc:
                    raise fail(str(exc)) from exc
            report = _reconcile_once(reconciler, incremental)
            if as_json:
                typer.echo(json.dumps(report.to_json(), default=str))
            else:
                _print_report(report)
            if heal and report.drifts:
                _heal(IngestService(engine, rt, s.max_batch), rt, report)
            if every is None:
                return
            time.sleep(every)


def _reconcile_once(reconciler: Reconciler, incremental: bool) -> DriftReport:
    with _progress() as bar:
        task = bar.add_task(f"reconcile {reconciler.system}", total=None)
        reconciler.progress = lambda n: bar.advance(task, n)
        try:
            return reconciler.run(incremental)
        except ConnectorError as exc:
            raise fail(str(exc)) from exc


def _heal(service: IngestService, rt: Runtime, report: DriftReport) -> None:
    service.start()
    try:
        healed = run_heal(service, rt, report)
    finally:
        service.stop()
    console.print(f"healed: {len(healed.commands)} commands queued for delivery, {healed.ingested} records "
                  f"ingested, {healed.unbound} unbound, {len(healed.refused)} refused (run {healed.run_id})")


def backfill_cmd(
    system: System, connectors: ConnectorsFile = Path("connectors.yaml"), entity: Entity = "account",
    tenant: Tenant = "default",
    obj: Annotated[str | None, typer.Option("--object", help="the system's object (default: its mapping's)")] = None,
    max_pages: Annotated[int | None, typer.Option(help="stop after this many pages (resume later)")] = None,
    pause: Annotated[float, typer.Option(help="seconds between pages, to spare the source's API quota")] = 0.0,
) -> None:
    """Load every record a system holds into the golden records, matching as it goes; resumable."""
    s = settings()
    rt = runtime(s)
    mapper = rt.mappings.get(system, entity, tenant)
    if mapper is None:
        raise fail(f"no mapping for --system {system!r} and --entity {entity!r}")
    with database(s) as engine, _connector(connectors, system) as connector, _progress() as bar:
        service = IngestService(engine, rt, s.max_batch)
        service.start()
        task = bar.add_task(f"backfill {system}", total=None)

        def advanced(n: int) -> None:
            bar.advance(task, n)
            time.sleep(pause)

        try:
            report = backfill(service, tenant, system, entity, connector, obj or mapper.spec.object, max_pages,
                              advanced)
        except ConnectorError as exc:
            raise fail(str(exc)) from exc
        finally:
            service.stop()
    _print_backfill(system, report)


def _print_backfill(system: str, r: BackfillReport) -> None:
    state = "complete" if r.done else "paused (run again to resume)"
    console.print(f"backfill {system}: {state}; {r.records:,} records in {r.pages} pages — {r.created} created, "
                  f"{r.linked} linked, {r.held} held for review, {r.replayed} replayed, {r.refused} refused, "
                  f"{r.skipped} deleted/archived skipped")


def register(app: typer.Typer) -> None:
    """Every command of issue #6 (one line in concord.cli.main)."""
    from concord.matching import review_cli

    app.command()(reconcile)
    app.command("backfill")(backfill_cmd)
    review_cli.register(app)
