"""`concord demo`: ingest the bundled CRM + ERP streams into a fresh embedded database and show the decisions."""

from __future__ import annotations

import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.panel import Panel
from rich.table import Table

from concord.cli.common import console, runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.storage import queries
from concord.storage.engine import make_engine, upgrade
from concord.views import golden_view


def sample_path() -> Path:
    return Path(str(resources.files("concord.demo") / "sample_changes.jsonl"))


def _ingest(service: IngestService, changes: list[ChangeCreate]) -> tuple[list[ChangePublic], list[ChangeError]]:
    ok: list[ChangePublic] = []
    refused: list[ChangeError] = []
    for start in range(0, len(changes), 200):
        for outcome in service.ingest(changes[start:start + 200]):
            (refused if isinstance(outcome, ChangeError) else ok).append(outcome)  # type: ignore[arg-type]
    return ok, refused


def _summary(ok: list[ChangePublic], refused: list[ChangeError], elapsed: float) -> Table:
    table = Table("outcome", "changes", title=f"{len(ok) + len(refused)} changes ingested in {elapsed:.2f}s")
    tally: dict[str, int] = {}
    for r in ok:
        label = "replayed (same idempotency key)" if r.replayed else r.status.value
        tally[label] = tally.get(label, 0) + 1
    for e in refused:
        tally[f"refused {e.status} ({e.title.lower()})"] = tally.get(f"refused {e.status} ({e.title.lower()})", 0) + 1
    for label, count in sorted(tally.items()):
        table.add_row(label, str(count))
    table.add_row("fields kept from stale (out-of-order) updates", str(sum(len(r.stale) for r in ok)))
    table.add_row("echoes suppressed", str(sum(len(r.echoes) for r in ok)))
    return table


def _report(engine_url: str, ok: list[ChangePublic]) -> None:
    engine = make_engine(engine_url)
    with engine.connect() as conn:
        figures = queries.counts(conn)
        sample = next(r.canonical_id for r in ok if r.stale)
        view = golden_view(queries.golden_record(conn, sample), queries.bindings_of(conn, sample))  # type: ignore[arg-type]
        pending = queries.approvals(conn, None, "pending", limit=3)
        commands = queries.outbox(conn, kind="command", canonical_id=sample)
    engine.dispose()
    table = Table("field", "value", "owner of record", "source time", "mapping", title=f"golden record {sample}")
    for path, fv in view.fields.items():
        table.add_row(path, str(fv.value)[:40], fv.system, fv.source_ts.strftime("%Y-%m-%d %H:%M:%S"),
                      fv.mapping_version or "workflow")
    console.print(table)
    console.print("cross-system ids: " + ", ".join(f"{b.system}={b.external_id}" for b in view.bindings))
    rejected = [(r.canonical_id, i) for r in ok for i in r.rejected][:3]
    console.print(Panel("\n".join(f"{cid}: {i.field} — {i.reason}" for cid, i in rejected),
                        title=f"non-owner writes rejected: {figures['rejected_fields']} fields"))
    console.print(Panel("\n".join(f"{p['canonical_id']}: {p['system']} proposes {p['field']} = {p['value']} "
                                  f"(owner {p['owner']}; now {p['current']})" for p in pending),
                        title=f"pending steward approvals: {figures['approvals'].get('pending', 0)}"))
    outbound = Table("system", "outbound commands", title="outbox")
    for system, count in sorted(figures["outbox_commands"].items()):
        outbound.add_row(system, str(count))
    console.print(outbound)
    console.print("events: " + ", ".join(f"{k}={v}" for k, v in sorted(figures["outbox_events"].items())))
    for cmd in commands[:2]:
        console.print(f"  e.g. → {cmd['target']}: {orjson.loads(cmd['payload'])['fields']}", highlight=False)


def _live(workdir: Path, settings: Settings) -> None:
    from concord.demo.live import live_demo, story, system_views

    console.rule("Live: one customer across the Salesforce twin, a real Tryton ERP, Stripe and Zendesk twins")
    with live_demo(runtime(settings), workdir) as running:
        state = story(running, lambda line: console.print(f"• {line}", highlight=False))
        table = Table("system", "record", "what it holds now", title=f"customer {state['customer']}")
        for system, record_id, values in system_views(running, state):
            table.add_row(system, record_id, ", ".join(f"{k}={v}" for k, v in values.items()))
        console.print(table)
        report = running.dispatcher.drain()
        console.print(f"outbox: nothing left to deliver ({report.delivered} delivered now, {report.failed} failed)")


def demo(workdir: Annotated[Path, typer.Option(help="where the demo database is written")] = Path(".concord-demo"),
         live: Annotated[bool, typer.Option(help="also run the live part against the sandbox systems "
                                                 "(starts the twins and a real Tryton server)")] = True,
         ) -> None:
    """Run the bundled CRM + ERP change streams through Concord and print what it decided."""
    if workdir.exists():
        shutil.rmtree(workdir)
    url = f"sqlite:///{workdir.resolve() / 'concord.db'}"
    settings = Settings(database_url=url)
    rt = runtime(settings)
    changes = [ChangeCreate.model_validate(orjson.loads(line)) for line in sample_path().read_bytes().splitlines()]
    engine = make_engine(url)
    upgrade(engine)
    service = IngestService(engine, rt)
    service.start()
    started = time.perf_counter()
    ok, refused = _ingest(service, changes)
    elapsed = time.perf_counter() - started
    service.stop()
    engine.dispose()
    console.print(_summary(ok, refused, elapsed))
    _report(url, ok)
    if live:
        _live(workdir, settings)
    console.print(f"\nDatabase: {url}\nNext, with [bold]CONCORD_DATABASE_URL={url}[/]: make yourself a key "
                  "([bold]concord keys create --name me --role admin --tenant '*'[/], shown once), run "
                  "[bold]concord serve[/] and open http://127.0.0.1:8080/console (sign in with the key) or /docs; "
                  "or [bold]concord show customer <id>[/].")
