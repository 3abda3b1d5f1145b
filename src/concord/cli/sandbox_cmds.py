"""`concord sandbox up`: the SaaS twins and a real Tryton ERP on loopback ports, until Ctrl-C."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from concord.cli.common import console

sandbox_app = typer.Typer(help="Local sandbox: twins of Salesforce, HubSpot, Stripe, Zendesk, and Tryton ERP.")


@sandbox_app.command("up")
def up(base_port: Annotated[int, typer.Option(help="first port (salesforce); the others follow")] = 8701,
       tryton: Annotated[bool, typer.Option(help="also start a real Tryton server (first start builds "
                                                 "its template database, ~25 s)")] = True) -> None:
    """Start the sandbox and print where each system listens and how to authenticate."""
    from concord.sandbox.runner import SandboxSettings, sandbox

    settings = SandboxSettings(base_port=base_port, tryton=tryton)
    with sandbox(settings) as running:
        table = Table("system", "url", "credentials", title="Concord sandbox")
        creds = {
            "salesforce": f"client_id={settings.salesforce.client_id} "
                          f"client_secret={settings.salesforce.client_secret}",
            "hubspot": f"Bearer {settings.hubspot.access_token}",
            "stripe": f"Bearer {settings.stripe.api_key}",
            "zendesk": f"{settings.zendesk.email}/token:{settings.zendesk.api_token}",
        }
        if running.tryton is not None:
            creds["tryton"] = f"db={running.tryton.db} user={running.tryton.admin_login} " \
                              f"password={running.tryton.admin_password}"
        for name, url in running.urls.items():
            table.add_row(name, url, creds.get(name, ""))
        console.print(table)
        console.print("Ctrl-C stops everything.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopping")
