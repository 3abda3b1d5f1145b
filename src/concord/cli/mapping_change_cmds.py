"""`concord mappings propose / diff / approve / reject / rollback / proposals`: mapping changes under approval.

`--tenant T` changes tenant T's override (default: the `--key`'s tenant; '*' the hub-wide spec). A tenant's key
sees and decides its own tenant's proposals only, as over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection

from concord.cli.common import console, database, fail, runtime, settings
from concord.cli.config_cmds import mappings_app
from concord.cli.identity import CliIdentity, KeyOption, identify
from concord.hubconfig import Runtime
from concord.mappings.spec import MappingSpec
from concord.mappings.transforms import builtin_transforms
from concord.security import proposals
from concord.security.proposal_store import ProposalError
from concord.security.scopes import ALL_TENANTS, Scope
from concord.yamlconf import ConfigError, load_yaml_file

T = TypeVar("T")
TenantOption = Annotated[str | None, typer.Option(
    "--tenant", help="whose mapping: a tenant (its override) or '*' (hub-wide); default: the key's tenant")]


def _tenant(who: CliIdentity, tenant: str | None, scope: Scope) -> str:
    """The tenant acted for: the one asked for, else the key's (no key: hub-wide); refused beyond the key."""
    chosen = tenant or (who.principal.tenant if who.principal is not None else ALL_TENANTS)
    who.require(scope, chosen)
    return chosen


def _viewer(who: CliIdentity) -> str:
    """Whose proposals `who` may see: a tenant's key only its own (others do not exist for it)."""
    return who.principal.tenant if who.principal is not None else ALL_TENANTS


@contextmanager
def _session() -> Iterator[tuple[Connection, Runtime]]:
    """A transaction and the runtime with the activated mapping versions (what the server runs)."""
    s = settings()
    rt = runtime(s)
    with database(s) as engine, engine.begin() as conn:
        proposals.apply_active(conn, rt)
        yield conn, rt


def _attempt(action: Callable[[], T]) -> T:
    try:
        return action()
    except ProposalError as exc:
        raise fail(str(exc)) from exc


def show_diff(dry_run: dict[str, Any], limit: int = 50) -> None:
    console.print(f"dry-run {escape(dry_run['old_version'])} → {escape(dry_run['new_version'])}: "
                  f"{dry_run['replayed']} recent "
                  f"changes replayed, {dry_run['differing']} would be mapped differently")
    table = Table("change", "from → to", "field", "now", "after the change")
    shown = 0
    for change in dry_run["changes"]:
        for field, values in change["fields"].items():
            if shown >= limit:
                break
            table.add_row(change["change_id"], f"{change['source']} → {change['target']}", escape(field),
                          escape(repr(values["old"])), escape(repr(values["new"])))
            shown += 1
    if shown:
        console.print(table)


def propose(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the new mapping spec (YAML)")],
            replay: Annotated[int, typer.Option(min=1, max=10_000, help="recent changes to replay")] = 500,
            tenant: TenantOption = None, key: KeyOption = None) -> None:
    """Propose a mapping change: validated, dry-run against recent traffic, stored for a second person."""
    who = identify(key)
    chosen = _tenant(who, tenant, Scope.MAPPINGS_PROPOSE)
    actor = who.actor
    try:
        spec = load_yaml_file(MappingSpec, file, context={"transforms": builtin_transforms()})
    except ConfigError as exc:
        raise fail("\n".join(exc.problems)) from exc
    with _session() as (conn, rt):
        proposal_id = _attempt(lambda: proposals.propose(conn, rt, spec, actor, replay, chosen))
        proposal = proposals.get(conn, proposal_id)
    show_diff(proposal["dry_run"])
    console.print(f"proposal [bold]{proposal_id}[/] waits for approval by someone other than {actor}")


def diff(proposal_id: Annotated[str, typer.Argument()], key: KeyOption = None) -> None:
    """Show a proposal and the dry-run stored with it."""
    who = identify(key)
    who.require(Scope.MAPPINGS_READ)
    with _session() as (conn, _):
        proposal = _attempt(lambda: proposals.get(conn, proposal_id, _viewer(who)))
    console.print(f"{proposal['system']}/{proposal['entity']} of tenant {proposal['tenant']} proposed by "
                  f"{proposal['proposed_by']}: {proposal['status']}")
    show_diff(proposal["dry_run"])


def approve(proposal_id: Annotated[str, typer.Argument()], key: KeyOption = None) -> None:
    """Approve and activate (new version); refused for the proposer. Future changes only: nothing resyncs."""
    who = identify(key)
    who.require(Scope.MAPPINGS_APPROVE)
    actor = who.actor
    with _session() as (conn, rt):
        version = _attempt(lambda: proposals.approve(conn, rt, proposal_id, actor, viewer=_viewer(who)))
        proposal = proposals.get(conn, proposal_id)
    show_diff(proposal["dry_run"])
    whose = "" if proposal["tenant"] == ALL_TENANTS else f"[{proposal['tenant']}]"
    console.print(f"activated {proposal['system']}/{proposal['entity']}{escape(whose)}@{version}; running servers "
                  "pick it up "
                  "when restarted (the API activates it at once)")


def reject(proposal_id: Annotated[str, typer.Argument()],
           reason: Annotated[str | None, typer.Option()] = None, key: KeyOption = None) -> None:
    """Turn a proposal down."""
    who = identify(key)
    who.require(Scope.MAPPINGS_APPROVE)
    actor = who.actor
    with _session() as (conn, _):
        _attempt(lambda: proposals.reject(conn, proposal_id, actor, reason, _viewer(who)))
    console.print(f"proposal {proposal_id} rejected")


def rollback(system: Annotated[str, typer.Argument()], entity: Annotated[str, typer.Argument()],
             tenant: TenantOption = None, key: KeyOption = None) -> None:
    """Return to the mapping that was active before the current one (under a new version)."""
    who = identify(key)
    chosen = _tenant(who, tenant, Scope.MAPPINGS_APPROVE)
    actor = who.actor
    with _session() as (conn, rt):
        version = _attempt(lambda: proposals.rollback(conn, rt, system, entity, actor, chosen))
    console.print(f"{system}/{entity} of tenant {chosen} rolled back: now version {version}")


def list_proposals(status: Annotated[str | None, typer.Option()] = None, tenant: TenantOption = None,
                   key: KeyOption = None) -> None:
    """Mapping proposals, newest first (a tenant's key: its own tenant's only)."""
    who = identify(key)
    who.require(Scope.MAPPINGS_READ, tenant)
    viewer = _viewer(who)
    only = tenant if tenant is not None else (None if viewer == ALL_TENANTS else viewer)
    with _session() as (conn, _):
        found = proposals.list_proposals(conn, status, tenant=only)
    table = Table("id", "tenant", "mapping", "status", "proposed by", "approved by", "version", "differing")
    for p in found:
        table.add_row(p["id"], p["tenant"], f"{p['system']}/{p['entity']}", p["status"], p["proposed_by"],
                      p["approved_by"] or "",
                      str(p["activated_version"] or ""), str((p["dry_run"] or {}).get("differing", "")))
    console.print(table)


def register() -> None:
    if any(c.name == "propose" for c in mappings_app.registered_commands):
        return  # the CLI app is built more than once in one process (tests)
    mappings_app.command("propose")(propose)
    mappings_app.command("diff")(diff)
    mappings_app.command("approve")(approve)
    mappings_app.command("reject")(reject)
    mappings_app.command("rollback")(rollback)
    mappings_app.command("proposals")(list_proposals)
