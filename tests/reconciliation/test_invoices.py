"""`concord backfill` and `concord reconcile` over an invoice feed of the one connections file (decision 082),
against the Stripe and Salesforce twins: historical invoices become golden records and post InvoicePosted, a
payment the hub missed is reported as drift and healed by ingesting Stripe's value, and the read-only feed never
receives a command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.connectors.stripe import StripeConnector
from concord.sandbox.runner import Sandbox
from concord.storage import queries
from concord.storage import tables as t
from concord.storage.engine import make_engine
from tests.connectors.stripe.support import connector_for
from tests.delivery.test_invoice_capture import _open_invoice
from tests.delivery.twins import connections, twins
from tests.ingest.test_event_producers import events_of

FEED = "billing_invoices"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """The twins, a connections file with the Stripe invoice feed (its key by reference) and the CLI's env."""
    with twins() as box:
        path = connections(box, tmp_path / "systems.yaml", capture=[])
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["systems"][FEED] = {"connector": "stripe_invoices", "system": "stripe", "config": {
            "base_url": box.urls["stripe"], "api_key_ref": "env:TEST_STRIPE_KEY"}}
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        yield box, {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONCORD_CONNECTIONS": str(path),
                    "TEST_STRIPE_KEY": box.settings.stripe.api_key}


def _invoke(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(build(), list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def _account(box: Sandbox, env: dict[str, str]) -> str:
    """A customer Concord knows, loaded from Salesforce by the same command."""
    box.apps["salesforce"].state.store.inject("Account", {"Name": "Invoiced Co"})
    assert "1 created" in _invoke(env, "backfill", "--system", "salesforce").output
    engine = make_engine(env["CONCORD_DATABASE_URL"])
    with engine.connect() as conn:
        account: str = conn.execute(select(t.bindings.c.canonical_id)).scalar_one()
    engine.dispose()
    return account


def test_invoices_are_backfilled_then_reconciled_and_healed_from_the_feed(
        deployment: tuple[Sandbox, dict[str, str]]) -> None:
    box, env = deployment
    account = _account(box, env)
    stripe: StripeConnector = connector_for(box.urls["stripe"], api_key=box.settings.stripe.api_key)
    try:
        invoice = _open_invoice(stripe, account)
        loaded = _invoke(env, "backfill", "--system", "stripe", "--entity", "invoice", "--object", "invoice")
        assert "backfill stripe: complete" in loaded.output and "1 created" in loaded.output
        engine = make_engine(env["CONCORD_DATABASE_URL"])
        [posted] = events_of(engine, "InvoicePosted")
        assert posted.customer_key == account and posted.data["amount"] == "49"
        with engine.connect() as conn:  # bound as Stripe's record, not the entry's
            assert queries.canonical_for(conn, "default", "stripe", "invoice", invoice) == posted.data["canonical_id"]
        again = _invoke(env, "backfill", "--system", "stripe", "--entity", "invoice")  # resumes from its cursor
        assert "0 created" in again.output and len(events_of(engine, "InvoicePosted")) == 1

        reconcile = ("reconcile", "--system", "stripe", "--entity", "invoice")
        clean = json.loads(_invoke(env, *reconcile, "--json").output)
        assert clean["records"] == 1 and clean["compared"] == 1
        assert clean["counts"] == {"missing": 0, "extra": 0, "field": 0, "deleted": 0}

        # paid while the hub was not listening (no capture entry): the golden invoice is behind
        stripe.client.post(f"/v1/invoices/{invoice}/pay", {"paid_out_of_band": True}, idempotency_key="pay-1")
        drift = json.loads(_invoke(env, *reconcile, "--json").output)
        found = {d["field"]: d for d in drift["drifts"]}
        assert found["status"]["golden"] == "open" and found["status"]["system_value"] == "paid"
        assert found["amount_due"]["system_value"] == "0" and found["amount_due"]["golden"] == "49"
        assert {d["heal"] for d in drift["drifts"]} == {"pull"}
        healed = _invoke(env, *reconcile, "--heal")
        assert "0 commands queued" in healed.output and "1 records ingested" in healed.output
        assert json.loads(_invoke(env, *reconcile, "--json").output)["counts"]["field"] == 0
        [updated] = [e for e in events_of(engine, "InvoiceUpdated") if "status" in e.data["changes"]]
        assert updated.data["changes"]["status"]["after"] == "paid"
        with engine.connect() as conn:  # the feed is read-only: nothing was ever addressed to it or to Stripe
            targets = {r["target"] for r in queries.outbox(conn, kind="command", limit=10_000)}
        assert not {FEED, "stripe"} & targets
        engine.dispose()
    finally:
        stripe.close()


def test_an_invoice_backfill_without_a_feed_entry_names_the_file_and_what_to_add(
        deployment: tuple[Sandbox, dict[str, str]], tmp_path: Path) -> None:
    _, env = deployment
    doc = yaml.safe_load(Path(env["CONCORD_CONNECTIONS"]).read_text(encoding="utf-8"))
    del doc["systems"][FEED]
    path = tmp_path / "no-feed.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = CliRunner().invoke(build(), ["backfill", "--system", "stripe", "--entity", "invoice",
                                          "--connections", str(path)], env=env)
    assert result.exit_code == 2
    assert str(path) in result.output and "connector: stripe_invoices" in result.output
