"""`concord ownership propose / diff / approve / reject / rollback / proposals`: ownership rule changes under
approval (the mapping flow, for ownership.yaml). The actor is the `--key`'s name or `cli:<login>`.

`--tenant T` works on T's override section only (decision 073): a key of tenant T may do that, and with such a
key every command sees T's proposals only (another tenant's is "not found"); whole-policy changes need an
all-tenant key. Without a key the CLI user is trusted as the database owner and sees every proposal."""

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
from concord.cli.identity import CliIdentity, KeyOption, identify
from concord.hubconfig import INTERNAL_SYSTEMS, Runtime
from concord.ownership.policy import OwnershipPolicy, TenantOverrides
from concord.security import mapping_sync
from concord.security import ownership_changes as changes
from concord.security.proposal_store import ProposalError
from concord.security.scopes import ALL_TENANTS, Scope
from concord.yamlconf import ConfigError, load_yaml_file

ownership_app = typer.Typer(help="Ownership rule changes: propose with a dry-run, approve by a second person, "
                                 "roll back.")
T = TypeVar("T")
TenantOption = Annotated[str | None, typer.Option(
    "--tenant", help="only this tenant's override section (the content under tenants.<T> in ownership.yaml)")]


def _visible_to(who: CliIdentity) -> str:
    return ALL_TENANTS if who.principal is None else who.principal.tenant


@contextmanager
def _session() -> Iterator[tuple[Connection, Runtime]]:
    """A transaction and the runtime with the ownership version in force (what the server runs)."""
    s = settings()
    rt = runtime(s)
    with database(s) as engine, engine.begin() as conn:
        changes.sync(conn, rt, interval=0.0)
        mapping_sync.sync(conn, rt, interval=0.0)  # the dry-run maps recent traffic as the server does
        yield conn, rt


def _attempt(action: Callable[[], T]) -> T:
    try:
        return action()
    except ProposalError as exc:
        raise fail(str(exc)) from exc


def show_diff(dry_run: dict[str, Any], limit: int = 50) -> None:
    console.print(f"dry-run ownership v{dry_run['old_version']} → proposed: {dry_run['replayed']} recent changes "
                  f"replayed, {dry_run['differing']} would be judged differently")
    totals = Table("system", "now: accepted / rejected / pending / if empty", "after the change")
    for system, sides in dry_run["systems"].items():
        totals.add_row(system, *(" / ".join(str(n) for n in sides[side].values()) for side in ("old", "new")))
    console.print(totals)
    table = Table("change", "system", "field", "now", "after the change")
    shown = 0
    for change in dry_run["changes"]:
        for field, outcome in change["fields"].items():
            if shown < limit:
                table.add_row(change["change_id"], change["system"], escape(f"{change['entity']}.{field}"),
                              outcome["old"], outcome["new"])
                shown += 1
    if shown:
        console.print(table)


@ownership_app.command("propose")
def propose(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                 help="the new ownership.yaml, or with --tenant that tenant's "
                                                      "override section")],
            replay: Annotated[int, typer.Option(min=1, max=10_000, help="recent changes to replay")] = 500,
            tenant: TenantOption = None, key: KeyOption = None) -> None:
    """Propose new ownership rules: validated, dry-run against recent traffic, stored for a second person."""
    who = identify(key)
    if tenant is None and who.principal is not None and who.principal.tenant != ALL_TENANTS:
        raise fail("--key: a hub-wide ownership change needs an all-tenant key; use --tenant "
                   f"{who.principal.tenant} to change that tenant's overrides")
    who.require(Scope.MAPPINGS_PROPOSE, tenant or ALL_TENANTS)
    with _session() as (conn, rt):
        context = {"systems": set(rt.hub.systems) | INTERNAL_SYSTEMS}
        try:
            if tenant is None:
                policy = load_yaml_file(OwnershipPolicy, file, context=context)
                proposal_id = changes.propose(conn, rt, policy, who.actor, replay)
            else:
                overrides = load_yaml_file(TenantOverrides, file, context=context).root
                proposal_id = changes.propose_overrides(conn, rt, tenant, overrides, who.actor, replay)
        except ConfigError as exc:
            raise fail("\n".join(exc.problems)) from exc
        proposal = changes.get(conn, proposal_id)
    show_diff(proposal["dry_run"])
    console.print(f"proposal [bold]{proposal_id}[/] waits for approval by someone other than {who.actor}")


@ownership_app.command("diff")
def diff(proposal_id: Annotated[str, typer.Argument()], key: KeyOption = None) -> None:
    """Show a proposal and the dry-run stored with it."""
    who = identify(key)
    who.require(Scope.MAPPINGS_READ)
    with _session() as (conn, _):
        proposal = _attempt(lambda: changes.get(conn, proposal_id, _visible_to(who)))
    scope = "hub-wide" if proposal["tenant"] == ALL_TENANTS else f"tenant {proposal['tenant']}"
    console.print(f"ownership proposal by {proposal['proposed_by']} ({scope}): {proposal['status']}")
    show_diff(proposal["dry_run"])


@ownership_app.command("approve")
def approve(proposal_id: Annotated[str, typer.Argument()], key: KeyOption = None) -> None:
    """Approve and activate (new version); refused for the proposer. Running servers follow within a second."""
    who = identify(key)
    who.require(Scope.MAPPINGS_APPROVE)  # the proposal's tenant is checked against the key's below
    with _session() as (conn, rt):
        version = _attempt(lambda: changes.approve(conn, rt, proposal_id, who.actor, visible_to=_visible_to(who)))
        proposal = changes.get(conn, proposal_id)
    show_diff(proposal["dry_run"])
    console.print(f"ownership rules version {version} active")


@ownership_app.command("reject")
def reject(proposal_id: Annotated[str, typer.Argument()],
           reason: Annotated[str | None, typer.Option()] = None, key: KeyOption = None) -> None:
    """Turn a proposal down."""
    who = identify(key)
    who.require(Scope.MAPPINGS_APPROVE)
    with _session() as (conn, _):
        _attempt(lambda: changes.reject(conn, proposal_id, who.actor, reason, visible_to=_visible_to(who)))
    console.print(f"proposal {proposal_id} rejected")


@ownership_app.command("rollback")
def rollback(tenant: TenantOption = None, key: KeyOption = None) -> None:
    """Return to the rules in force before the current ones (under a new version); with --tenant (or a tenant's
    key), only that tenant's overrides go back to what they were before their latest change."""
    who = identify(key)
    target = tenant or _visible_to(who)  # a tenant's key means its own overrides, as over HTTP
    who.require(Scope.MAPPINGS_APPROVE, target)
    with _session() as (conn, rt):
        version = _attempt(lambda: changes.rollback(conn, rt, who.actor, target))
    scope = "ownership rules" if target == ALL_TENANTS else f"tenant {target}'s overrides"
    console.print(f"{scope} rolled back: now version {version}")


@ownership_app.command("proposals")
def list_proposals(status: Annotated[str | None, typer.Option()] = None, tenant: TenantOption = None,
                   key: KeyOption = None) -> None:
    """Ownership proposals, newest first (with a tenant's key: that tenant's only)."""
    who = identify(key)
    who.require(Scope.MAPPINGS_READ, tenant)
    only = tenant or (None if _visible_to(who) == ALL_TENANTS else _visible_to(who))
    with _session() as (conn, _):
        found = changes.list_proposals(conn, status, tenant=only)
    table = Table("id", "tenant", "status", "proposed by", "approved by", "version", "differing")
    for p in found:
        table.add_row(p["id"], p["tenant"], p["status"], p["proposed_by"], p["approved_by"] or "",
                      str(p["activated_version"] or ""), str((p["dry_run"] or {}).get("differing", "")))
    console.print(table)
