"""`concord keys`, `concord secrets`, `concord audit`: API keys, encrypted credentials, the audit trail.

The CLI works on the configured database directly, so whoever runs it is trusted like a database owner. The
audit trail records the `--key` (CONCORD_API_KEY) it acts under, by name, or else `cli:<login>`
(`concord.cli.identity`); with a key, the key's scopes and tenant apply.
"""

from __future__ import annotations

import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table
from sqlalchemy import Connection

from concord.cli.common import console, database, fail, settings
from concord.cli.identity import CliIdentity, KeyOption, identify
from concord.security import audit, keys
from concord.security.audit_query import AuditFilter, entries
from concord.security.scopes import ALL_TENANTS, ROLES, Scope, parse_scopes
from concord.security.secrets import Keyring, SecretError, SecretStore, new_master_key

keys_app = typer.Typer(help="API keys: create (shown once), list, rotate with an overlap window, revoke.")
secrets_app = typer.Typer(help="Connector credentials, encrypted at rest under the master key.")
audit_app = typer.Typer(help="The hash-chained audit trail: verify, export, show.")

def _when(stamp: float | None) -> str:
    return "" if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who uses the key (its actor name)")],
                tenant: Annotated[str, typer.Option(help="tenant the key is bound to ('*': all tenants)")] = "default",
                role: Annotated[str | None, typer.Option(help=f"one of: {', '.join(ROLES)}")] = None,
                scope: Annotated[list[str] | None, typer.Option(help="a scope (repeatable)")] = None,
                ttl_days: Annotated[float | None, typer.Option(min=0.001, help="expires after this many days")] = None,
                key: KeyOption = None) -> None:
    """Create a key and print it once: Concord keeps only its hash."""
    who = identify(key)
    who.require(Scope.ADMIN, tenant)
    if role is not None and role not in ROLES:
        raise fail(f"--role: unknown role {role!r}; known: {', '.join(ROLES)}")
    try:
        scopes = parse_scopes(scope or []) | (ROLES[role] if role else frozenset())
    except ValueError as exc:
        raise fail(f"--scope: {exc}") from exc
    if not scopes:
        raise fail("--role or --scope: a key needs at least one scope")
    with database(settings()) as engine, engine.begin() as conn:
        try:
            issued = keys.create_key(conn, tenant=tenant, name=name, scopes=scopes, actor=who.actor, role=role,
                                     ttl_s=None if ttl_days is None else ttl_days * 86_400)
        except ValueError as exc:
            raise fail(f"--tenant: {exc}") from exc
    console.print(f"key {issued.id} for [bold]{name}[/] (tenant {tenant}): {', '.join(sorted(scopes))}")
    console.print("store it now, it is not shown again:")
    print(issued.token)


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None) -> None:
    """Every key with its status; never the key itself."""
    now = time.time()
    with database(settings()) as engine, engine.connect() as conn:
        records = keys.list_keys(conn, tenant)
    table = Table("id", "tenant", "name", "role", "scopes", "status", "expires", "replaced by")
    for r in records:
        table.add_row(r.id, r.tenant, r.name, r.role or "", " ".join(sorted(r.scopes)), r.status(now),
                      _when(r.expires_at), r.replaced_by or "")
    console.print(table)


def _require_key_admin(conn: Connection, who: CliIdentity, key_id: str) -> None:
    """With a `--key`: admin scope, and the key to change must be of its tenant (as over HTTP)."""
    target = keys.get_key(conn, key_id)
    who.require(Scope.ADMIN, None if target is None else target.tenant)


@keys_app.command("rotate")
def keys_rotate(key_id: Annotated[str, typer.Argument(help="id of the key to replace")],
                overlap_hours: Annotated[float, typer.Option(min=0, help="how long the old key keeps working")] = 24,
                key: KeyOption = None) -> None:
    """Issue a successor with the same scopes; the old key stops after the overlap window."""
    who = identify(key)
    with database(settings()) as engine, engine.begin() as conn:
        _require_key_admin(conn, who, key_id)
        try:
            issued = keys.rotate_key(conn, key_id, who.actor, overlap_hours * 3600)
        except keys.KeyError_ as exc:
            raise fail(f"key_id: no active key {key_id}") from exc
    console.print(f"key {issued.id} replaces {key_id}; {key_id} stops working in {overlap_hours:g} h. New key:")
    print(issued.token)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="id of the key")], key: KeyOption = None) -> None:
    """Refuse the key from now on."""
    who = identify(key)
    with database(settings()) as engine, engine.begin() as conn:
        _require_key_admin(conn, who, key_id)
        try:
            keys.revoke_key(conn, key_id, who.actor)
        except keys.KeyError_ as exc:
            raise fail(f"key_id: no key {key_id}") from exc
    console.print(f"key {key_id} revoked")


def _store(engine: object) -> SecretStore:
    try:
        return SecretStore(engine, Keyring.from_settings(settings()))  # type: ignore[arg-type]
    except SecretError as exc:
        raise fail(str(exc)) from exc


@secrets_app.command("set")
def secrets_set(name: Annotated[str, typer.Argument(help="reference it as secret:NAME in connector settings")],
                from_file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                               help="read the value from this file")] = None,
                key: KeyOption = None) -> None:
    """Store a credential encrypted; the value comes from a file, stdin or a hidden prompt (never an argument,
    which would land in shell history and process lists)."""
    who = identify(key)
    who.require(Scope.ADMIN, ALL_TENANTS)
    if from_file is not None:
        value = from_file.read_text(encoding="utf-8").strip()
    elif not sys.stdin.isatty():
        value = sys.stdin.read().strip()
    else:
        value = getpass.getpass(f"value of {name}: ")
    if not value:
        raise fail("value: empty")
    with database(settings()) as engine:
        try:
            _store(engine).set(name, value, who.actor)
        except SecretError as exc:
            raise fail(f"name: {exc}") from exc
    console.print(f"secret {name} stored (encrypted)")


@secrets_app.command("list")
def secrets_list() -> None:
    """Names and which master key protects each; never values."""
    with database(settings()) as engine:
        store = _store(engine)
        table = Table("name", "master key", "updated")
        for name, key_id, updated in store.names():
            table.add_row(name, key_id + ("" if key_id == store.keyring.current.id else " (old)"), _when(updated))
    console.print(table)


@secrets_app.command("rotate")
def secrets_rotate(key: KeyOption = None) -> None:
    """Re-wrap every secret under the first (newest) master key; then the old keys can be removed."""
    who = identify(key)
    who.require(Scope.ADMIN, ALL_TENANTS)
    with database(settings()) as engine:
        try:
            count = _store(engine).rotate(who.actor)
        except SecretError as exc:
            raise fail(str(exc)) from exc
    console.print(f"{count} secrets re-encrypted under the current master key")


@secrets_app.command("new-master-key")
def secrets_new_master_key() -> None:
    """Print a fresh random master key (base64) for CONCORD_MASTER_KEY or the key file."""
    print(new_master_key())


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain and the ingest batch seals; exit 1 on any tampering."""
    with database(settings()) as engine, engine.connect() as conn:
        verdict = audit.verify(conn)
    for problem in verdict.problems:
        console.print(f"[bold red]tampered:[/] {problem}", highlight=False)
    if not verdict.ok:
        raise typer.Exit(1)
    console.print(f"[green]audit chain intact[/]: {verdict.checked} entries")


@audit_app.command("export")
def audit_export(out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None) -> None:
    """Every entry as JSON lines, in chain order, with its hashes (verifiable elsewhere)."""
    with database(settings()) as engine, engine.connect() as conn:
        lines = (orjson.dumps(audit.public(row)) + b"\n" for row in audit.rows(conn))
        if out is None:
            for line in lines:
                sys.stdout.buffer.write(line)
            return
        with out.open("wb") as handle:
            handle.writelines(lines)
    console.print(f"wrote {out}")


@audit_app.command("show")
def audit_show(actor: Annotated[str | None, typer.Option()] = None,
               customer: Annotated[str | None, typer.Option()] = None,
               system: Annotated[str | None, typer.Option()] = None,
               limit: Annotated[int, typer.Option(min=1, max=1000)] = 30) -> None:
    """The newest entries, filtered."""
    with database(settings()) as engine, engine.connect() as conn:
        found = entries(conn, AuditFilter(actor=actor, customer=customer, system=system, limit=limit))
    table = Table("when", "tenant", "actor", "action", "object", "customer")
    for e in found:
        table.add_row(_when(e["at"]), e["tenant"], e["actor"], e["action"], f"{e['object_type']} {e['object_id']}",
                      e["customer"] or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    from concord.cli import mapping_change_cmds

    app.add_typer(keys_app, name="keys")
    app.add_typer(secrets_app, name="secrets")
    app.add_typer(audit_app, name="audit")
    mapping_change_cmds.register()
