"""Who runs a CLI command, for the audit trail: the API key given with `--key` (or CONCORD_API_KEY) — its name,
as over HTTP — or else `cli:<os login>`. There is no free-form actor option: nobody types in who they are.

With a key, the command is also held to it: the key's scopes and tenant apply as they would over HTTP. Without
one, whoever runs the CLI on the database is trusted like its owner, and is recorded by login.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy import Table, select

from concord.cli.common import database, fail, settings
from concord.security.keys import authenticate
from concord.security.scopes import Principal, Scope

KeyOption = Annotated[str | None, typer.Option(
    "--key", envvar="CONCORD_API_KEY", show_envvar=True,
    help="API key to act under: the audit trail records its name, and its scopes and tenant apply "
         "(default: cli:<login>, trusted as the database owner)")]


@dataclass(frozen=True)
class CliIdentity:
    actor: str
    principal: Principal | None  # None: no key, the local operator

    def require(self, scope: Scope, tenant: str | None = None) -> None:
        """Refuse (exit 2, naming what is missing) when the key lacks `scope` or may not touch `tenant`."""
        if self.principal is None:
            return
        if not self.principal.allows(scope):
            raise fail(f"--key: this API key lacks the scope {scope.value!r}")
        if tenant is not None and not self.principal.sees(tenant):
            raise fail(f"--key: this API key is not allowed to use tenant {tenant!r}'s data")

    def require_object(self, scope: Scope, table: Table, object_id: str) -> None:
        """`require` for the tenant of the row `object_id` of `table` (a review, merge, approval, task). A row
        that does not exist checks the scope only: the command itself then says it is not there."""
        if self.principal is None:
            return
        with database(settings()) as engine, engine.connect() as conn:
            tenant = conn.execute(select(table.c.tenant).where(table.c.id == object_id)).scalar()
        self.require(scope, None if tenant is None else str(tenant))


def login_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name for this uid (containers)
        return "cli:unknown"


def identify(token: str | None) -> CliIdentity:
    """The identity for `token` (checked against the configured database), or the login without one."""
    if not token:
        return CliIdentity(login_actor(), None)
    with database(settings()) as engine, engine.connect() as conn:
        principal = authenticate(conn, token)
    if principal is None:
        raise fail("--key / CONCORD_API_KEY: not a valid, unexpired, unrevoked API key")
    return CliIdentity(principal.actor, principal)
