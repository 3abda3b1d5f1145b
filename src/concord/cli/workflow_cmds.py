"""`concord tasks …` (exception tasks) and `concord workflows worker` (a process that runs workflows)."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from concord.cli.common import console, database, fail, runtime, settings
from concord.cli.identity import KeyOption, identify
from concord.jsonguard import nul_path
from concord.security.scopes import Scope
from concord.tasks import store
from concord.tasks.models import TaskAction, TaskPublic, TaskStatus
from concord.tasks.tables import workflow_tasks
from concord.workflows.engine import ClientWaker, WorkflowSettings

tasks_app = typer.Typer(help="Exception tasks: workflows waiting for a person to correct data.", no_args_is_help=True)
workflows_app = typer.Typer(help="Durable lifecycle workflows.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(workflows_app, name="workflows")


def _parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`field=value` pairs; a value that parses as JSON (numbers, true, null, lists) is taken as such."""
    corrections: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise fail(f"--set {pair!r}: expected field=value")
        try:
            corrections[name] = json.loads(raw)
        except json.JSONDecodeError:
            corrections[name] = raw
        nul = nul_path(corrections[name], name)
        if nul is not None:  # a JSON "\u0000" escape; PostgreSQL text cannot hold the character
            raise fail(f"--set {nul}: NUL characters are not allowed")
    return corrections


@tasks_app.command("list")
def list_tasks(status: Annotated[str, typer.Option(help="open, resolved, retried, cancelled or all")] = "open",
               customer: Annotated[str | None, typer.Option(help="only this customer (Concord id)")] = None,
               tenant: Annotated[str | None, typer.Option()] = None) -> None:
    """Tasks, oldest first."""
    known = {s.value: s for s in TaskStatus}
    if status != "all" and status not in known:
        raise fail(f"--status: unknown status {status!r}; one of {', '.join(known)} or all")
    wanted = known.get(status)
    with database(settings()) as engine, engine.connect() as conn:
        rows = store.list_tasks(conn, tenant=tenant, status=wanted, customer_id=customer, limit=1000)
    table = Table("status", "customer", "process", "step", "system", "fields", "message")
    table.add_column("id", no_wrap=True)
    for task in rows:
        table.add_row(task.status, task.customer_id, task.process, task.step, task.system, ", ".join(task.fields),
                      task.message[:80], task.id)
    console.print(table)


@tasks_app.command("show")
def show_task(task_id: str) -> None:
    """Everything a task knows, as JSON."""
    with database(settings()) as engine, engine.connect() as conn:
        task = store.get_task(conn, task_id)
    if task is None:
        raise fail(f"task_id: no task {task_id}", code=1)
    console.print_json(task.model_dump_json())


def _decide(task_id: str, action: TaskAction, key: str | None, corrections: dict[str, Any] | None = None
            ) -> TaskPublic:
    who = identify(key)
    who.require_object(Scope.TASKS_RESOLVE, workflow_tasks, task_id)
    actor = who.actor
    s = settings()
    with database(s) as engine:
        try:
            task = store.decide(engine, task_id, action, actor, corrections)
        except store.TaskNotFound as exc:
            raise fail(f"task_id: no task {task_id}", code=1) from exc
        except store.TaskClosed as exc:
            raise fail(str(exc), code=1) from exc
        except store.NotCorrectable as exc:
            raise fail(f"--set {exc.field}: {exc}") from exc
    try:
        waker = ClientWaker(WorkflowSettings(database_url=s.database_url))
        try:
            waker.wake(task.workflow_id, task.id)
        finally:
            waker.close()
    except Exception as exc:  # the run re-reads its task on its own; waking only saves the wait
        console.print(f"[yellow]note:[/] the run was not woken ({exc}); it picks the decision up at its next look")
    console.print(f"task {task.id}: {task.status} by {actor}; run {task.workflow_id} continues")
    return task


@tasks_app.command("resolve")
def resolve(task_id: str, set_: Annotated[list[str] | None, typer.Option("--set", help="field=value")] = None,
            key: KeyOption = None) -> None:
    """Continue the run with corrected values."""
    _decide(task_id, TaskAction.RESOLVE, key, _parse_sets(set_ or []))


@tasks_app.command("retry")
def retry(task_id: str, key: KeyOption = None) -> None:
    """Run the refused step again unchanged."""
    _decide(task_id, TaskAction.RETRY, key)


@tasks_app.command("cancel")
def cancel(task_id: str, key: KeyOption = None) -> None:
    """Stop the run."""
    _decide(task_id, TaskAction.CANCEL, key)


@workflows_app.command("worker")
def worker(connections: Annotated[Path | None, typer.Option(
               dir_okay=False, help="systems YAML; default $CONCORD_CONNECTIONS")] = None,
           serve: Annotated[bool, typer.Option(help="also serve the API (process and task routes)")] = False) -> None:
    """Run workflows: recover unfinished runs, start processes from event signals, optionally serve the API."""
    from concord.observability.systems import start_sampler
    from concord.workflows.hosting import NoConnections, connections_file, hosted_workflows

    s = settings()
    rt = runtime(s)
    try:
        path = connections_file(s, connections)
    except NoConnections as exc:
        raise fail(str(exc)) from exc
    with hosted_workflows(s, rt, path) as engine:
        if serve:  # the app samples rate-limit headroom of the hosted connectors itself
            import uvicorn

            from concord.api.app import create_app

            uvicorn.run(create_app(s, rt, engine), host=s.host, port=s.port, log_level=s.log_level)
        else:
            services = engine.services
            sampler = start_sampler(services.engine, services.endpoints(), s.headroom_sample_s)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            console.print("workflow worker running; Ctrl-C to stop")
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
            finally:
                sampler.stop()
