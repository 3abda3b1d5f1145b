"""Billing status and ERP-side credit control against the real Tryton ERP and the twins: a posted invoice
starts sync-billing-status through the routing rule and sales sees it in CRM; an amendment paused because ERP
receivables exceed the credit limit goes on by itself once ERP clears it (a higher limit)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from concord.events.produce import new_event
from concord.events.routing import WorkflowSignalTarget, load_routing
from concord.events.subscribers import WorkflowSignalSubscriber
from concord.hubconfig import Runtime
from concord.workflows.engine import WorkflowEngine
from concord.workflows.journal import steps_of
from concord.workflows.lifecycle_model import AMEND, SYNC_BILLING, AmendRequest
from concord.workflows.lifecycle_processes import lifecycle_specs
from concord.workflows.processes import start_process
from concord.workflows.signals import SignalStarter
from tests.connectors.tryton.test_credit import posted_invoice
from tests.workflows.lifecycle_support import finished, golden, onboarded, sf_account, wait_for
from tests.workflows.support import Systems

pytestmark = pytest.mark.tryton


def _invoice(engine: WorkflowEngine, systems: Systems, party: str, amount: str) -> int:
    erp: Any = engine.services.connector("tryton", "default")
    return posted_invoice(erp, systems.tryton, systems.tryton.meta.companies[0], int(party), Decimal(amount))


def _signal_invoice_posted(engine: WorkflowEngine, customer: str, invoice: int) -> None:
    """What the event pipeline does with an InvoicePosted event: the routing rule's subscriber writes the signal."""
    rule = load_routing(None, set(engine.services.events.types())).subscriptions["billing-status-sync"]
    assert isinstance(rule.subscriber, WorkflowSignalTarget) and "InvoicePosted" in rule.events
    event = new_event(engine.services.events, "InvoicePosted", "default", customer,
                      {"entity": "account", "canonical_id": customer, "source_system": "tryton",
                       "invoice": str(invoice), "amount": "300.00"}, correlation_id=f"inv-{invoice}",
                      causation_id=f"inv-{invoice}")
    with engine.services.engine.begin() as tx:
        WorkflowSignalSubscriber(rule.subscriber).handle(event, tx)
        WorkflowSignalSubscriber(rule.subscriber).handle(event, tx)  # a redelivery: one signal


def test_posted_invoice_reaches_crm_and_erp_clears_a_credit_limit_hold(
        engine: WorkflowEngine, systems: Systems, runtime: Runtime, database_url: str) -> None:
    customer, sf_id, made = onboarded(engine, systems, runtime, database_url, "Receivables AG")
    party = made["tryton"]["party"]
    erp: Any = engine.services.connector("tryton", "default")
    erp.set_credit_limit(int(party), Decimal("100.00"))
    invoice = _invoice(engine, systems, party, "300.00")

    _signal_invoice_posted(engine, customer, invoice)
    assert SignalStarter(engine, lifecycle_specs()).poll() == 1
    synced = finished(engine, SYNC_BILLING, f"{SYNC_BILLING}:default:{customer}:inv-{invoice}")
    assert synced.status == "completed", synced
    billing = engine.services.connector("stripe", "default").receivables(made["stripe"]["customer"])  # type: ignore[attr-defined]
    account = sf_account(systems, sf_id)
    # ERP's posted invoice plus billing's open subscription invoice, side by side on the CRM account
    assert (account["Open_Receivables__c"], account["Open_Invoices__c"], account["Billing_Status__c"]) == \
        (300.0 + billing.open_amount / 100, 1 + billing.open_invoices, "Open")

    view = start_process(engine, lifecycle_specs()[AMEND], AmendRequest(customer_id=customer, change_id="Q-7",
                                                                       seats=6))
    wait_for("the amendment to pause on credit",
             lambda: any(s.name == "crm-mark" for s in steps_of(view.workflow_id)))
    assert golden(engine, customer, "credit_status") == "hold"
    assert sf_account(systems, sf_id)["Credit_Status__c"] == "Hold"
    erp.set_credit_limit(int(party), Decimal("1000.00"))  # finance raises the limit in ERP: the hold clears
    done = finished(engine, AMEND, view.workflow_id)
    assert done.status == "completed" and done.result is not None, done
    assert done.result["detail"]["waited_for_credit"] is True
    assert golden(engine, customer, "credit_status") == "ok"
    assert sf_account(systems, sf_id)["Credit_Status__c"] == "OK"
    assert golden(engine, customer, "lifecycle_state") == "active"  # ERP's hold never moved the lifecycle
