"""Invoice capture in a deployment (decisions 049 and 078): a connections file declares the read-only Stripe
invoice feed as its own entry, ingested as Stripe's records; the served app captures a finalised invoice on
schedule into a canonical invoice (InvoicePosted) and its payment (InvoiceUpdated), and never writes to the feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from concord.api.serving import create_serving_app
from concord.connectors.runtime.readonly import ReadOnlyFeed
from concord.connectors.stripe import StripeConnector
from concord.connectors.stripe.invoices import StripeInvoiceFeed
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.sandbox.runner import Sandbox
from concord.settings import Settings
from concord.storage import queries
from concord.storage import tables as t
from concord.workflows.connections import load_connections
from tests.connectors.stripe.support import connector_for
from tests.delivery.memory_connector import MemorySystem
from tests.delivery.twins import connections, eventually, twins
from tests.factories import change
from tests.ingest.test_event_producers import events_of
from tests.security.support import bearer, key_for

FEED = "billing_invoices"


def _with_invoice_feed(box: Sandbox, path: Path) -> Path:
    """The twins' file (Salesforce not captured) plus the Stripe invoice feed, its key by reference."""
    connections(box, path, capture=[])
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["systems"][FEED] = {
        "connector": "stripe_invoices", "system": "stripe",
        "config": {"base_url": box.urls["stripe"], "api_key_ref": "env:TEST_STRIPE_KEY"},
        "capture": [{"object": "invoice", "entity": "invoice", "tenant": "default", "every_s": 0.1}]}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _open_invoice(stripe: StripeConnector, account: str) -> str:
    """A customer provisioned for `account` (metadata.concord_id) with one open send_invoice invoice."""
    customer = stripe.create("customer", {"name": "Invoiced Co", "metadata": {"concord_id": account}},
                             idempotency_key=f"cust-{account}")
    price = stripe.client.post("/v1/prices", {"currency": "eur", "unit_amount": 4900, "recurring": {
        "interval": "month"}, "product_data": {"name": "Plan"}}, idempotency_key="price-4900").body
    stripe.create("subscription", {"customer": customer.id, "plan_price": str(price["id"]), "quantity": 1,
                                   "collection_method": "send_invoice", "days_until_due": 14},
                  idempotency_key=f"sub-{account}")
    (invoice,) = stripe.list_invoices(customer=customer.id)
    return invoice.id


def _paid_update(engine: Engine) -> Any:
    found = [e for e in events_of(engine, "InvoiceUpdated") if "status" in e.data["changes"]]
    return found[0] if found else None


def test_served_app_captures_stripe_invoices_into_events(runtime: Runtime, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with twins() as box:
        monkeypatch.setenv("TEST_STRIPE_KEY", box.settings.stripe.api_key)
        path = _with_invoice_feed(box, tmp_path / "systems.yaml")
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", sqlite_synchronous="NORMAL",
                            connections=path, sync_idle_s=0.1)
        app = create_serving_app(settings, runtime)
        stripe = connector_for(box.urls["stripe"], api_key=box.settings.stripe.api_key)
        try:
            with TestClient(app) as client:
                engine = app.state.concord.engine
                loop = app.state.sync
                assert isinstance(loop.delivery.dispatcher.connectors[FEED], StripeInvoiceFeed)
                client.headers.update(bearer(key_for(engine)))
                answer = client.post("/api/v1/changes", json={
                    "tenant": "default", "system": "salesforce", "entity": "account", "external_id": "001INV",
                    "fields": {"Name": "Invoiced Co"}, "source_ts": "2026-05-01T00:00:00Z",
                    "idempotency_key": "invoice-capture-1"})
                assert answer.status_code == 202, answer.text
                account = answer.json()["canonical_id"]
                # the cursor lives under the feed's entry; the first round only moves it to now
                eventually(lambda: DeliveryStore(engine).has_cursor("default", FEED, "invoice"))
                invoice = _open_invoice(stripe, account)
                [posted] = eventually(lambda: events_of(engine, "InvoicePosted"))
                assert posted.customer_key == account and posted.data["amount"] == "49"
                with engine.connect() as conn:  # ingested as Stripe's record: bound under "stripe", not the entry
                    assert queries.canonical_for(conn, "default", "stripe", "invoice", invoice) \
                        == posted.data["canonical_id"]
                    assert queries.canonical_for(conn, "default", FEED, "invoice", invoice) is None
                stripe.client.post(f"/v1/invoices/{invoice}/pay", {"paid_out_of_band": True},
                                   idempotency_key="pay-served")
                updated = eventually(lambda: _paid_update(engine))
                assert updated.customer_key == account and updated.data["changes"]["status"]["after"] == "paid"
                assert len(events_of(engine, "InvoicePosted")) == 1
                assert all(p.failures == 0 for p in loop.pollers)
                # nothing was ever addressed to the read-only feed
                with engine.connect() as conn:
                    targets = {r["target"] for r in queries.outbox(conn, kind="command", limit=10_000)}
                assert FEED not in targets
        finally:
            stripe.close()


def test_a_feed_ingested_as_another_vendor_is_refused_naming_the_field(tmp_path: Path) -> None:
    from concord.yamlconf import ConfigError

    path = tmp_path / "systems.yaml"
    path.write_text(yaml.safe_dump({"systems": {"erp_invoices": {
        "connector": "tryton_invoices", "system": "stripe",
        "config": {"url": "http://erp:8000", "database": "concord", "company_id": 1, "password_ref": "env:X"}}}}))
    with pytest.raises(ConfigError, match=r"systems\.erp_invoices\.system: .*name a tryton system"):
        load_connections(path)


class _Feed(ReadOnlyFeed):
    name = "zendesk"
    object_name = "organizations"
    read_only_reason = "a read-only test feed"


class _Owner(MemorySystem):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_command_addressed_to_a_feed_fails_at_once_and_is_not_retried(
        ingest: IngestService, engine: Engine) -> None:
    """Should a file name a feed as a routed target, its refusal is final: failed with the reason, never retried."""
    feed = _Feed()
    dispatcher = CommandDispatcher(DeliveryStore(engine), {"zendesk": feed})  # type: ignore[dict-item]
    assert isinstance(ingest.ingest([change("salesforce", "001F", {"Name": "Feed Target"})])[0], ChangePublic)
    report = dispatcher.run_once()
    assert (report.failed, report.delivered, report.deferred) == (1, 0, 0)
    with engine.connect() as conn:
        [row] = conn.execute(select(t.outbox.c.last_error).where(t.outbox.c.failed_at.is_not(None))).all()
    assert "a read-only test feed" in row.last_error
    assert dispatcher.run_once().failed == 0  # nothing left to retry


def test_closing_a_feed_closes_only_the_connector_built_for_it() -> None:
    lent, owned = _Owner("zendesk", ("organizations",)), _Owner("zendesk", ("organizations",))
    _Feed().close()  # nothing owned: nothing to close
    built = _Feed()
    built.owner = owned
    built.close()
    assert (lent.closed, owned.closed) == (False, True)
