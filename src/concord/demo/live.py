"""The live part of the demo: one customer moves between the Salesforce twin, a real Tryton ERP and the Stripe
and Zendesk twins, through Concord's capture → ingest → gate → outbox → delivery path. Nothing is faked inside
Concord: the systems are real HTTP servers (Tryton a real ERP) reached through the production connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine

from concord.connectors.base import Connector
from concord.connectors.salesforce import SalesforceConfig, SalesforceConnector
from concord.connectors.stripe import StripeConfig, StripeConnector
from concord.connectors.tryton import TrytonConfig, TrytonConnector
from concord.connectors.zendesk import ZendeskConfig, ZendeskConnector
from concord.delivery.capture import ChangeCapture
from concord.delivery.dispatcher import CommandDispatcher
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ids import new_id
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.sandbox.runner import Sandbox, SandboxSettings, sandbox
from concord.storage import queries
from concord.storage.engine import make_engine, upgrade

TENANT = "sandbox"
# (system, connector object, canonical entity) pairs Concord captures changes from in the demo
CAPTURED = [("salesforce", "Account", "account"), ("tryton", "party", "account")]


@dataclass
class LiveDemo:
    box: Sandbox
    engine: Engine
    ingest: IngestService
    connectors: dict[str, Connector]
    capture: ChangeCapture
    dispatcher: CommandDispatcher

    def sync(self) -> None:
        """One round of the integration loop: capture from the sources, then deliver what the outbox holds."""
        for system, obj, entity in CAPTURED:
            self.capture.poll(system, self.connectors[system], obj, entity)
        self.dispatcher.drain()


def _connectors(box: Sandbox) -> dict[str, Connector]:
    s = box.settings
    erp = box.tryton
    assert erp is not None, "the live demo needs the Tryton server"
    return {
        "salesforce": SalesforceConnector(SalesforceConfig(
            login_url=box.urls["salesforce"], client_id=s.salesforce.client_id,
            client_secret=SecretStr(s.salesforce.client_secret), tenant=TENANT)),
        "tryton": TrytonConnector(TrytonConfig(url=erp.url, database=erp.db, user=erp.admin_login,
                                               password=erp.admin_password, company_id=erp.meta.companies[0].id)),
        "stripe": StripeConnector(StripeConfig(base_url=box.urls["stripe"], api_key=SecretStr(s.stripe.api_key),
                                               tenant=TENANT)),
        "zendesk": ZendeskConnector(ZendeskConfig(base_url=box.urls["zendesk"], email=s.zendesk.email,
                                                  api_token=SecretStr(s.zendesk.api_token), tenant=TENANT)),
    }


@contextmanager
def live_demo(runtime: Runtime, workdir: Path) -> Iterator[LiveDemo]:
    with sandbox(SandboxSettings(tryton=True)) as box:
        engine = make_engine(f"sqlite:///{workdir / 'live.db'}")
        upgrade(engine)
        service = IngestService(engine, runtime)
        service.start()
        connectors = _connectors(box)
        store = DeliveryStore(engine)
        capture = ChangeCapture(store, service, tenant=TENANT)
        for system, obj, _ in CAPTURED:  # the ERP's own company parties are not customers to sync
            capture.start_from_now(system, connectors[system], obj)
        try:
            yield LiveDemo(box, engine, service, connectors, capture, CommandDispatcher(store, connectors))
        finally:
            service.stop()
            for connector in connectors.values():
                connector.close()
            engine.dispose()


def bound(demo: LiveDemo, canonical_id: str) -> dict[str, str]:
    with demo.engine.connect() as conn:
        return {b["system"]: b["external_id"] for b in queries.bindings_of(conn, canonical_id)}


def open_billing_account(demo: LiveDemo, account_id: str, name: str, email: str) -> str:
    """What onboarding does once ERP has the legal entity: Concord opens the billing account."""
    billing_id = new_id()
    change = ChangeCreate(tenant=TENANT, system="concord", entity="billing_account", external_id=billing_id,
                          canonical_id=billing_id, source_ts=datetime.now(UTC), idempotency_key=f"ba-{billing_id}",
                          fields={"account_id": account_id, "name": name, "billing_email": email})
    outcome = demo.ingest.ingest([change])[0]
    assert isinstance(outcome, ChangePublic), outcome
    return billing_id


def story(demo: LiveDemo, say: Callable[[str], None]) -> dict[str, Any]:
    """The customer's journey; returns the final state of every system for the report."""
    sf_store = demo.box.apps["salesforce"].state.store
    sf_id = sf_store.inject("Account", {"Name": "Globex Corporation", "Website": "https://globex.example",
                                        "Phone": "+1 555 0100", "Type": "Enterprise", "Industry": "Energy"})
    say(f"A sales rep creates 'Globex Corporation' in Salesforce ({sf_id}).")
    demo.sync()
    with demo.engine.connect() as conn:
        customer = queries.canonical_for(conn, TENANT, "salesforce", "account", sf_id)
    assert customer is not None
    ids = bound(demo, customer)
    say(f"Concord captured it as customer {customer} and created it in Tryton (party {ids.get('tryton')}) and "
        f"Zendesk (organization {ids.get('zendesk')}).")
    erp: TrytonConnector = demo.connectors["tryton"]  # type: ignore[assignment]
    erp.update("party", ids["tryton"], {"name": "Globex Corporation Ltd", "address.street": "1 Cypress Creek",
                                        "address.city": "London", "address.postal_code": "EC1A 1BB",
                                        "address.country": "GB",
                                        "tax_identifiers": [{"type": "gb_vat", "value": "GB980780684"}]})
    say("Finance completes the legal entity in Tryton: legal name, registered address, VAT number.")
    demo.sync()
    billing = open_billing_account(demo, customer, "Globex Corporation Ltd", "ap@globex.example")
    demo.sync()
    say(f"Onboarding opens the billing account: Stripe customer {bound(demo, billing).get('stripe')}.")
    demo.sync()  # Salesforce reports back the ERP number Concord wrote: an echo, not a conflict
    return {"customer": customer, "billing": billing, "bindings": bound(demo, customer),
            "billing_bindings": bound(demo, billing), "salesforce_id": sf_id}


def system_views(demo: LiveDemo, state: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The customer as each system now holds it, read back through the connectors."""
    ids, billing_ids = state["bindings"], state["billing_bindings"]
    picks = [("salesforce", "Account", ids["salesforce"], ["Name", "ERP_Customer_Number__c", "Website"]),
             ("tryton", "party", ids["tryton"], ["code", "name", "tax_identifier.code", "address.city"]),
             ("zendesk", "organizations", ids["zendesk"], ["name", "external_id"]),
             ("stripe", "customer", billing_ids["stripe"], ["name", "email"])]
    views = []
    for system, obj, record_id, fields in picks:
        record = demo.connectors[system].read(obj, record_id)
        values = {} if record is None else {f: record.fields.get(f) for f in fields}
        views.append((system, record_id, values))
    return views
