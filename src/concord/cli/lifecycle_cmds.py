"""`concord explain CUSTOMER` ("why is this customer blocked?") and `concord lifecycle start PROCESS field=value…`
(renew, amend-subscription, apply/release-credit-hold, sync-billing-status, suspend-account, close-account).

The CLI never runs workflows itself (that is a worker's job, and its executor would resume other runs here): `start`
validates the request locally, so a bad field is named before anything is sent, then posts it to the process
API (`--api`, key from CONCORD_API_KEY); `explain` reads the store and the workflow system database directly.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import httpx
import orjson
import typer
from pydantic import ValidationError
from rich.markup import escape

from concord.cli.common import console, database, fail, settings
from concord.workflows.engine import system_url_for
from concord.workflows.explain import Explanation, RunFact, gather, run_prefixes, runs_of
from concord.workflows.journal import JournalClient
from concord.workflows.lifecycle_processes import lifecycle_specs

lifecycle_app = typer.Typer(help="Lifecycle processes after onboarding: renewals, credit holds, closures.")


def register(app: typer.Typer) -> None:
    app.add_typer(lifecycle_app, name="lifecycle")
    app.command("explain")(explain)


def _pairs(values: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise fail(f"{item!r}: expected field=value")
        try:
            parsed[name] = orjson.loads(raw)  # numbers and booleans as JSON, anything else as text
        except orjson.JSONDecodeError:
            parsed[name] = raw
    return parsed


@lifecycle_app.command("start")
def start(process: Annotated[str, typer.Argument(help="process name, e.g. amend-subscription")],
          fields: Annotated[list[str], typer.Argument(help="request fields as field=value")],
          api: Annotated[str, typer.Option(help="Concord API base URL")] = "http://127.0.0.1:8000") -> None:
    """Start a process (the same business key twice returns the first run)."""
    spec = lifecycle_specs().get(process)
    if spec is None:
        raise fail(f"process: unknown {process!r}; one of {', '.join(sorted(lifecycle_specs()))}")
    try:
        request = spec.request.model_validate(_pairs(fields))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(str(p) for p in first['loc']) or 'request'}: {first['msg']}") from None
    headers = {"Authorization": f"Bearer {os.environ.get('CONCORD_API_KEY', '')}"}
    answer = httpx.post(f"{api.rstrip('/')}/api/v1/process/{process}", content=request.model_dump_json(),
                        headers={**headers, "Content-Type": "application/json"}, timeout=30.0)
    body = answer.json()
    if answer.status_code >= 400:
        field = f"{body.get('field')}: " if body.get("field") else ""
        raise fail(f"{field}{body.get('detail', answer.text)} (HTTP {answer.status_code})")
    state = "started" if body.get("created") else "already exists"
    console.print(f"{escape(body['workflow_id'])}: {state}, {body['status']}", highlight=False)


def _runs(database_url: str, tenant: str, customer: str) -> list[RunFact]:
    client = JournalClient(system_url_for(database_url))
    try:
        return runs_of(client.runs(run_prefixes(tenant, customer)))  # none if no worker ever ran here
    finally:
        client.close()


def _print(answer: Explanation) -> None:
    console.print(f"[bold]{escape(answer.customer_id)}[/] — lifecycle {answer.lifecycle_state or 'unknown'}: "
                  f"{'BLOCKED' if answer.blocked else 'not blocked'} ({answer.category})", highlight=False)
    console.print(escape(answer.reason), highlight=False)
    if answer.waiting_step:
        console.print(f"waiting step: {escape(answer.waiting_step)} of {escape(answer.workflow_id or '?')}",
                      highlight=False)
    for name, link in answer.links.items():
        console.print(f"  {name}: {escape(link)}", highlight=False)


def explain(customer: Annotated[str, typer.Argument(help="Concord id of the account")],
            tenant: Annotated[str, typer.Option(help="tenant")] = "default",
            as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Why is this customer blocked? Lifecycle state, the step waiting, the reason, links to task and trail."""
    s = settings()
    runs = _runs(s.database_url, tenant, customer)
    with database(s) as engine, engine.connect() as conn:
        answer = gather(conn, tenant, customer, runs)
    if answer is None:
        raise fail(f"customer: no account {customer!r}", code=1)
    if as_json:
        console.print_json(answer.model_dump_json())
    else:
        _print(answer)
