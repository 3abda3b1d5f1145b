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

from concord.cli.common import console, database, err_console, fail, runtime, settings
from concord.connectors.base import ConnectorError
from concord.delivery.residency import ResidencyRefused, tenant_regions
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.reconciliation.backfill import BackfillReport, backfill
from concord.reconciliation.connectors import Source, open_source
from concord.reconciliation.engine import DriftReport, ReconcileError, Reconciler
from concord.reconciliation.heal import heal as run_heal
from concord.scale.settings import ScaleConfigError
from concord.security import mapping_sync
from concord.settings import Settings
from concord.yamlconf import ConfigError

System = Annotated[str, typer.Option("--system", help="the system to compare or load, e.g. tryton (or a "
                                                          "connections entry, e.g. erp_invoices)")]
Entity = Annotated[str, typer.Option(help="canonical entity")]
Tenant = Annotated[str, typer.Option(help="tenant")]
ConnectionsFile = Annotated[Path | None, typer.Option(
    "--connections", dir_okay=False, help="connections YAML (`systems:`, decision 072); default $CONCORD_CONNECTIONS")]
ConnectorsFile = Annotated[Path | None, typer.Option(
    "--connectors", envvar="CONCORD_CONNECTORS_FILE", dir_okay=False, help="deprecated: use --connections")]
LEGACY_DEFAULT = Path("connectors.yaml")  # what the commands read when given no file, before decision 082


def connections_path(s: Settings, connections: Path | None, connectors: Path | None) -> tuple[Path, bool]:
    """The file to read and whether it was named the deprecated way. An explicit --connectors (or its variable)
    wins over $CONCORD_CONNECTIONS: an old script keeps reading the file it names on a host set up for `serve`."""
    if connections is not None:
        return connections, False
    if connectors is not None:
        return connectors, True
    if s.connections is not None:
        return s.connections, False
    if LEGACY_DEFAULT.is_file():
        return LEGACY_DEFAULT, True
    raise fail("--connections / CONCORD_CONNECTIONS: a connections file (YAML, `systems:`) is needed")


def _deprecations(path: Path, by_option: bool, flat: bool) -> None:
    """One line on stderr for whatever is deprecated in how the file was named or written."""
    said = []
    if by_option:
        said.append("--connectors / CONCORD_CONNECTORS_FILE (or ./connectors.yaml by default) is deprecated: use "
                    "--connections / CONCORD_CONNECTIONS")
    if flat:
        said.append(f"{path} uses the deprecated flat connections format; move its sections under `systems:` "
                    "(`<name>: {connector: <name>, config: {...}}`, docs/decisions/072)")
    if said:
        err_console.print(f"[yellow]warning:[/] {escape('; '.join(said))}", highlight=False, soft_wrap=True)


@contextmanager
def _connector(path: tuple[Path, bool], system: str, entity: str, tenant: str, rt: Runtime) -> Iterator[Source]:
    file, by_option = path
    if not file.is_file():
        raise fail(f"--connections: no file {file}")
    try:
        source = open_source(file, system, entity, tenant, tenant_regions(rt.hub.tenants))
    except ConfigError as exc:
        raise fail("\n".join(exc.problems)) from exc
    except (ScaleConfigError, ResidencyRefused) as exc:
        raise fail(str(exc)) from exc
    _deprecations(file, by_option, source.flat)
    try:
        yield source
    finally:
        source.close()


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
    system: System, connections: ConnectionsFile = None, entity: Entity = "account", tenant: Tenant = "default",
    heal: Annotated[bool, typer.Option("--heal", help="fix the drift (default: report only, a dry run)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    incremental: Annotated[bool, typer.Option(help="only records changed since the last run")] = False,
    every: Annotated[float | None, typer.Option("--every", help="run again every SECONDS (scheduled mode)")] = None,
    connectors: ConnectorsFile = None,
) -> None:
    """Compare a system's records with the golden records: missing, extra, field drift, deleted upstream."""
    s = settings()
    rt = runtime(s)
    path = connections_path(s, connections, connectors)
    with database(s) as engine, _connector(path, system, entity, tenant, rt) as source:
        reconciler = None
        while True:
            # Compare with the mapping in force now (activated versions, decision 071), not the file's; a
            # scheduled run follows activations made elsewhere between rounds.
            if mapping_sync.sync_engine(engine, rt, interval=0.0) or reconciler is None:
                try:
                    reconciler = Reconciler(engine, rt, tenant, source.system, entity, source.connector)
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
    system: System, connections: ConnectionsFile = None, entity: Entity = "account", tenant: Tenant = "default",
    obj: Annotated[str | None, typer.Option("--object", help="the system's object (default: its mapping's)")] = None,
    max_pages: Annotated[int | None, typer.Option(help="stop after this many pages (resume later)")] = None,
    pause: Annotated[float, typer.Option(help="seconds between pages, to spare the source's API quota")] = 0.0,
    connectors: ConnectorsFile = None,
) -> None:
    """Load every record a system holds into the golden records, matching as it goes; resumable. Invoices
    (`--entity invoice`) are read from the system's invoice feed entry and post InvoicePosted as captured ones."""
    s = settings()
    rt = runtime(s)
    path = connections_path(s, connections, connectors)
    with _connector(path, system, entity, tenant, rt) as source:
        mapper = rt.mappings.get(source.system, entity, tenant)
        if mapper is None:
            raise fail(f"no mapping for --system {source.system!r} and --entity {entity!r}")
        report = _backfill(s, rt, source, entity, tenant, obj or mapper.spec.object, max_pages, pause)
    _print_backfill(source.system, report)


def _backfill(s: Settings, rt: Runtime, source: Source, entity: str, tenant: str, obj: str,
              max_pages: int | None, pause: float) -> BackfillReport:
    with database(s) as engine, _progress() as bar:
        service = IngestService(engine, rt, s.max_batch)
        service.start()
        task = bar.add_task(f"backfill {source.entry}", total=None)

        def advanced(n: int) -> None:
            bar.advance(task, n)
            time.sleep(pause)

        try:
            return backfill(service, tenant, source.system, entity, source.connector, obj, max_pages, advanced)
        except ConnectorError as exc:
            raise fail(str(exc)) from exc
        finally:
            service.stop()


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
