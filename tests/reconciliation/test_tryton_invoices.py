"""`concord backfill` / `concord reconcile` of Tryton invoices against a real trytond, through the CLI and the
one connections file (decision 082): posted invoices load as golden records posting InvoicePosted, keyed to the
account Tryton's party binding names; a payment the hub missed is field drift healed by ingesting Tryton's value,
and no command is ever queued for an invoice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.connectors.tryton import TrytonConnector
from concord.sandbox.tryton import TrytonServer
from concord.storage import queries
from concord.storage import tables as t
from concord.storage.engine import make_engine
from tests.connectors.tryton.support import connector_config, require_trytond, server_settings
from tests.connectors.tryton.test_credit import make_party, posted_invoice
from tests.connectors.tryton.test_invoices import pay_invoice
from tests.ingest.test_event_producers import events_of

pytestmark = pytest.mark.tryton


@pytest.fixture(scope="module")
def server() -> Iterator[TrytonServer]:
    require_trytond()
    with TrytonServer(server_settings()) as running:
        yield running


@pytest.fixture
def env(server: TrytonServer, tmp_path: Path) -> dict[str, str]:
    erp = {"url": server.url, "database": server.db, "user": server.admin_login,
           "password_ref": "env:TEST_TRYTON_PASSWORD", "company_id": server.meta.companies[0].id}
    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": {
        "tryton": {"connector": "tryton", "config": erp},
        "erp_invoices": {"connector": "tryton_invoices", "system": "tryton", "config": erp}}}), encoding="utf-8")
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONCORD_CONNECTIONS": str(path),
            "TEST_TRYTON_PASSWORD": server.admin_password}


def _invoke(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(build(), list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def test_tryton_invoices_backfill_reconcile_and_heal_from_the_cli(server: TrytonServer,
                                                                  env: dict[str, str]) -> None:
    main = server.meta.companies[0]
    erp = TrytonConnector(connector_config(server))
    try:
        party = make_party(erp)
        _invoke(env, "backfill", "--system", "tryton")  # the parties first: invoices resolve through them
        engine = make_engine(env["CONCORD_DATABASE_URL"])
        with engine.connect() as conn:
            account = queries.canonical_for(conn, "default", "tryton", "account", str(party))
        assert account is not None
        invoice = str(posted_invoice(erp, server, main, party, Decimal("300.00")))

        loaded = _invoke(env, "backfill", "--system", "tryton", "--entity", "invoice", "--object", "invoice")
        assert "backfill tryton: complete" in loaded.output
        ours = [e for e in events_of(engine, "InvoicePosted") if e.customer_key == account]
        assert len(ours) == 1 and ours[0].data["amount"] == "300"
        with engine.connect() as conn:
            assert queries.canonical_for(conn, "default", "tryton", "invoice", invoice) == ours[0].data["canonical_id"]

        reconcile = ("reconcile", "--system", "tryton", "--entity", "invoice", "--json")
        clean = json.loads(_invoke(env, *reconcile).output)
        assert clean["counts"] == {"missing": 0, "extra": 0, "field": 0, "deleted": 0}

        pay_invoice(erp.client, main, int(invoice))
        drift = json.loads(_invoke(env, *reconcile).output)
        found = {d["field"]: d for d in drift["drifts"] if d["external_id"] == invoice}
        assert (found["status"]["golden"], found["status"]["system_value"]) == ("open", "paid")
        assert {d["heal"] for d in drift["drifts"]} == {"pull"}
        healed = _invoke(env, "reconcile", "--system", "tryton", "--entity", "invoice", "--heal")
        assert "0 commands queued" in healed.output
        assert json.loads(_invoke(env, *reconcile).output)["counts"]["field"] == 0
        [paid] = [e for e in events_of(engine, "InvoiceUpdated") if "status" in e.data["changes"]]
        assert paid.customer_key == account and paid.data["changes"]["status"]["after"] == "paid"
        with engine.connect() as conn:  # an invoice is never commanded: ERP posts it, the feed only reads
            entities = set(conn.execute(select(t.outbox.c.entity).where(t.outbox.c.kind == "command")).scalars())
        assert "invoice" not in entities
        engine.dispose()
    finally:
        erp.close()
