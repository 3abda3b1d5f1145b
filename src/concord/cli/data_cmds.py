"""`concord ingest`, `concord show`, `concord approvals` — working on the configured database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from concord.cli.common import console, database, err_console, fail, runtime, settings
from concord.cli.identity import KeyOption, identify
from concord.ingest import stewardship
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.service import IngestService
from concord.jsonguard import nul_path
from concord.security.install import start_security
from concord.security.scopes import Scope
from concord.storage import queries
from concord.storage.tables import approvals as approvals_table
from concord.views import golden_view

show_app = typer.Typer(help="Show golden records with per-field provenance.")
approvals_app = typer.Typer(help="Steward decisions on non-owner writes.")


def _read_lines(path: Path) -> Iterator[tuple[int, ChangeCreate | str]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                document = orjson.loads(line)
                nul = nul_path(document)
                if nul is not None:  # PostgreSQL text cannot hold it: refused before anything is written
                    yield number, f"{nul}: NUL characters are not allowed"
                    continue
                yield number, ChangeCreate.model_validate(document)
            except orjson.JSONDecodeError as exc:
                yield number, f"not JSON: {exc}"
            except ValidationError as exc:
                first = exc.errors()[0]
                yield number, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _batches(path: Path, size: int, errors: list[str], skipped: Callable[[], None]) -> Iterator[list[ChangeCreate]]:
    batch: list[ChangeCreate] = []
    for number, item in _read_lines(path):
        if isinstance(item, str):
            errors.append(f"{path}:{number}: {item}")
            skipped()  # an invalid line still counts as done for the progress bar
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines of changes")],
           batch: Annotated[int, typer.Option(min=1, max=5000, help="changes per submission")] = 500) -> None:
    """Ingest a JSON-lines file of changes (the POST /api/v1/changes body, one per line) durably."""
    s = settings()
    rt = runtime(s)
    total = sum(1 for line in file.open("rb") if line.strip())
    errors: list[str] = []
    tally: Counter[str] = Counter()
    with database(s) as engine:
        start_security(engine, rt)  # map with the activated mapping versions, as the server does
        service = IngestService(engine, rt, s.max_batch)
        service.start()
        columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console) as progress:
            task = progress.add_task("ingest", total=total)
            for chunk in _batches(file, batch, errors, lambda: progress.advance(task, 1)):
                for outcome in service.ingest(chunk):
                    if isinstance(outcome, ChangeError):
                        errors.append(f"{outcome.status} {outcome.detail}")
                        tally["error"] += 1
                    else:
                        tally["replayed" if outcome.replayed else outcome.status.value] += 1
                progress.advance(task, len(chunk))
        service.stop()
    for error in errors[:20]:
        err_console.print(f"[red]{error}[/]", highlight=False)
    summary = "  ".join(f"{k}={v}" for k, v in sorted(tally.items()))
    console.print(f"{summary}  invalid_lines={len(errors) - tally['error']}")
    if errors:
        raise typer.Exit(1)


@show_app.command("customer")
def show_customer(customer_id: Annotated[str, typer.Argument(help="canonical id")],
                  as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The golden record with, for every field, its system, source time and mapping version."""
    s = settings()
    with database(s) as engine, engine.connect() as conn:
        record = queries.golden_record(conn, customer_id)
        if record is None:
            raise fail(f"no customer {customer_id}", 1)
        view = golden_view(record, queries.bindings_of(conn, customer_id))
    if as_json:
        console.print_json(view.model_dump_json())
        return
    title = f"{view.entity} {view.id} v{view.version}"
    table = Table("field", "value", "system", "source time", "mapping", title=title)
    for path, fv in view.fields.items():
        who = fv.system + (f" (approved by {fv.approved_by})" if fv.approved_by else "")
        # escaped: a tenant override's version reads `system/entity[tenant]@N`, which rich takes for markup
        table.add_row(path, str(fv.value), who, fv.source_ts.isoformat(), escape(fv.mapping_version or "-"))
    console.print(table)
    for b in view.bindings:
        console.print(f"  bound: {b.system} {b.entity} {b.external_id} (last sync {b.last_sync_at:%Y-%m-%d %H:%M:%S})")


@approvals_app.command("list")
def list_approvals(status: str = "pending") -> None:
    s = settings()
    with database(s) as engine, engine.connect() as conn:
        rows = queries.approvals(conn, None, status)
    table = Table("id", "customer", "field", "proposed", "current", "by", "owner")
    for r in rows:
        table.add_row(r["id"], r["canonical_id"], r["field"], r["value"], r["current"], r["system"], r["owner"])
    console.print(table)


@approvals_app.command("approve")
def approve(approval_id: str, reason: str | None = None, key: KeyOption = None) -> None:
    who = identify(key)
    who.require_object(Scope.APPROVALS_DECIDE, approvals_table, approval_id)
    s = settings()
    with database(s) as engine:
        service = IngestService(engine, runtime(s))
        service.start()
        try:
            outcome = stewardship.approve(service, approval_id, who.actor, reason)
        except (stewardship.ApprovalNotFound, stewardship.ApprovalClosed) as exc:
            raise fail(str(exc), 1) from exc
        finally:
            service.stop()
    if isinstance(outcome, ChangePublic):
        console.print(f"approved: {outcome.status.value}, applied {outcome.applied}")
    else:
        raise fail(outcome.detail, 1)


@approvals_app.command("reject")
def reject(approval_id: str, reason: str | None = None, key: KeyOption = None) -> None:
    who = identify(key)
    who.require_object(Scope.APPROVALS_DECIDE, approvals_table, approval_id)
    s = settings()
    with database(s) as engine:
        try:
            stewardship.reject(engine, approval_id, who.actor, reason)
        except (stewardship.ApprovalNotFound, stewardship.ApprovalClosed) as exc:
            raise fail(str(exc), 1) from exc
    console.print("rejected")
