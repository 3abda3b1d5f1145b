"""`concord workflows runs` and `concord workflows show ID`: the workflow journal from a terminal.

Read through a `JournalClient` (it never runs or resumes anything, and creates no journal where none is), so an
operator can look while the worker runs — e.g. every failed or given-up run, or where one customer's onboarding is.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from concord.cli.common import console, fail, settings
from concord.cli.workflow_cmds import workflows_app
from concord.workflows.engine import WorkflowSettings
from concord.workflows.journal import JournalClient, RunStatus

STATUSES = {"pending": ["PENDING"], "failed": ["ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"],
            "completed": ["SUCCESS"], "all": None}


def _client() -> JournalClient:
    s = settings()
    return JournalClient(WorkflowSettings(database_url=s.database_url).system_url(), s.sqlite_synchronous)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _summary(run: RunStatus) -> dict[str, object]:
    return {"workflow_id": run.workflow_id, "process": run.name, "status": run.status,
            "parent": run.parent_workflow_id, "started_at": _when(run.created_at),
            "updated_at": _when(run.updated_at), "resumed": run.recovery_attempts}


@workflows_app.command("runs")
def runs(status: Annotated[str, typer.Option(help="pending, failed, completed or all")] = "pending",
         process: Annotated[str | None, typer.Option(help="only this process, e.g. onboard-customer")] = None,
         tenant: Annotated[str | None, typer.Option(help="only this tenant's runs")] = None,
         customer: Annotated[str | None, typer.Option(help="only this customer's runs (needs --tenant)")] = None,
         limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
         as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False) -> None:
    """Workflow runs, oldest first (default: the unfinished ones)."""
    if status not in STATUSES:
        raise fail(f"--status: unknown status {status!r}; one of {', '.join(STATUSES)}")
    if customer and not tenant:
        raise fail("--customer: give --tenant too (run ids are <process>:<tenant>:<customer>)")
    from concord.workflows.explain import run_prefixes

    prefixes = run_prefixes(tenant, customer) if tenant and customer else None
    client = _client()
    try:
        found = client.runs(prefixes, STATUSES[status], process, tenant, limit)
    finally:
        client.close()
    if as_json:
        for run in found:
            console.print(json.dumps(_summary(run)), highlight=False, soft_wrap=True)
        return
    table = Table("workflow id", "process", "status", "started", "updated", "resumed")
    for run in found:
        table.add_row(escape(run.workflow_id), run.name, run.status, _when(run.created_at), _when(run.updated_at),
                      str(run.recovery_attempts))
    console.print(table)


@workflows_app.command("show")
def show(workflow_id: str, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """One run: status, parent, error, and its journal (each recorded step, send and receive)."""
    client = _client()
    try:
        run = client.run(workflow_id)
        steps = client.steps(workflow_id)
    finally:
        client.close()
    if run is None:
        raise fail(f"workflow_id: no run {workflow_id}", code=1)
    summary = {**_summary(run), "error": None if run.error is None else str(run.error),
               "steps": [{"seq": s.seq, "name": s.name, "failed": s.failed, "at": _when(s.at)} for s in steps]}
    if as_json:
        console.print(json.dumps(summary), highlight=False, soft_wrap=True)
        return
    console.print(f"[bold]{escape(run.workflow_id)}[/] — {run.name}: {run.status}", highlight=False)
    if run.error is not None:
        console.print(f"error: {escape(str(run.error))}", highlight=False)
    table = Table("#", "step", "outcome", "at")
    for s in steps:
        table.add_row(str(s.seq), s.name, "error" if s.failed else "ok", _when(s.at))
    console.print(table)
