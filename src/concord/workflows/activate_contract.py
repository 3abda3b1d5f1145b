"""activate-contract (issue #5 part 2): a signed contract goes live and carries its order.

The order is the ERP sale order (Tryton). Started with `order_id`, the run reads that order for the customer's
party and accepts it once ERP has confirmed it (a draft, quoted or cancelled order becomes a task: retry once ERP
confirms, or correct the order id). Started with `contract_id` — a won CRM deal, e.g. by the closed-won routing
rule — the run places the order in ERP and confirms it (once per contract: the order's reference is the key).
Then the order and its status flow on: recorded on the customer's contract (ERP owns its number and status; the
event path publishes ContractActivated), reported to CRM (contract status and order number on the account, and on
the won Opportunity) and to support (the Zendesk organization is entitled under the contract: tags plus its
contract_status / order_number fields). One run per order or contract.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from concord.connectors.base import ConnectorError
from concord.connectors.tryton.sales import total_line
from concord.ingest.models import ChangeCreate
from concord.ingest.service import prepare_all, process_in_transaction
from concord.security.mapping_sync import sync_engine as sync_mappings
from concord.storage import queries
from concord.workflows.engine import services
from concord.workflows.journal import current_workflow_id, result_of, workflow
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    AccountSystems,
    ActivateContractRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.lifecycle_steps import (
    AuditInput,
    PendingOnboarding,
    audit,
    load_account,
    mark_crm,
    pending_onboarding,
)
from concord.workflows.renewal import CustomerVanished
from concord.workflows.runs import Cancelled, RunContext, until_accepted, until_resident
from concord.workflows.steps import Rejection, RetryLater, connector_call, durable_step, rejection_of

log = logging.getLogger(__name__)
# Tryton sale states → the one the contract mapping knows (an order ERP confirmed stays so while it is processed).
_ORDER_STATE = {"draft": "draft", "quotation": "draft", "confirmed": "confirmed", "processing": "confirmed",
                "done": "confirmed", "cancelled": "cancelled"}


class OrderInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    party_id: str | None
    order_id: int

    def corrected(self, corrections: dict[str, Any]) -> OrderInput:
        return self.model_copy(update={"order_id": int(corrections.get("order_id", self.order_id))})


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int = 0
    number: str | None = None
    state: str = ""
    sale_date: str | None = None
    total: str = "0"
    currency: str | None = None
    rejection: Rejection | None = None


@durable_step("read-order")
def read_order(data: OrderInput) -> Order:
    """The customer's order as ERP holds it; anything but a confirmed order of this customer is refused."""
    if data.party_id is None:
        return Order(rejection=Rejection(system="tryton", message="the customer has no ERP party: onboard it first",
                                         fields=["customer_id"]))
    erp: Any = services().connector("tryton", data.tenant)
    try:
        with connector_call():
            sales = erp.list_sales(int(data.party_id))
    except ConnectorError as error:  # a refused *read* says nothing about the order: try again
        raise RetryLater(str(error)) from None
    sale = next((s for s in sales if s.id == data.order_id), None)
    if sale is None:
        return Order(rejection=Rejection(system="tryton", fields=["order_id"],
                                         message=f"ERP has no order {data.order_id} for party {data.party_id}"))
    return _order_of(sale)


class PlaceOrderInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    customer_id: str
    party_id: str | None
    contract_id: str

    def corrected(self, corrections: dict[str, Any]) -> PlaceOrderInput:
        return self  # nothing to correct here: fix the deal or the party, then retry


@durable_step("place-order")
def place_order(data: PlaceOrderInput) -> Order:
    """The won deal's order placed in ERP and confirmed (found again on a repeat: its reference is the key)."""
    if data.party_id is None:
        return Order(rejection=Rejection(system="tryton", message="the customer has no ERP party: onboard it first",
                                         fields=["customer_id"]))
    with services().engine.connect() as conn:
        deal = queries.golden_record(conn, data.contract_id)
    if deal is None or deal.entity != "contract" or deal.value("account_id") != data.customer_id:
        return Order(rejection=Rejection(system="concord", fields=["contract_id"],
                                         message=f"{data.contract_id} is no contract of customer {data.customer_id}"))
    name = str(deal.value("name") or f"Contract {data.contract_id}")
    value = deal.value("total_value")
    lines = [name, total_line(None if value is None else Decimal(str(value)), _text(deal.value("currency")))]
    erp: Any = services().connector("tryton", data.tenant)
    try:
        with connector_call():
            sale = erp.place_order(int(data.party_id), f"concord:{data.tenant}:{data.contract_id}", name,
                                   [line for line in lines if line])
    except ConnectorError as error:
        return Order(rejection=rejection_of(error))
    services().faults.after_effect("place-order", data.customer_id)
    return _order_of(sale)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _order_of(sale: Any) -> Order:
    order = Order(id=sale.id, number=sale.number, state=_ORDER_STATE.get(sale.state, sale.state),
                  sale_date=None if sale.sale_date is None else sale.sale_date.isoformat(), total=str(sale.total),
                  currency=sale.currency)
    if order.state != "confirmed":
        return order.model_copy(update={"rejection": Rejection(
            system="tryton", fields=["order_id"],
            message=f"order {sale.number or sale.id} is {sale.state} in ERP: a contract needs a confirmed order")})
    return order


class ContractInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext
    party_id: str
    order: Order
    contract_id: str | None = None  # the won deal's contract: the order is recorded on it


@durable_step("record-contract")
def record_contract(data: ContractInput) -> str:
    """The order recorded as ERP reports it, like any inbound ERP change: the golden contract (the deal's own, when
    the run placed the order for one) bound to the order, and ContractActivated in the outbox in one transaction
    (once per idempotency key). Returns its id."""
    run, order, svc = data.run, data.order, services()
    fields: dict[str, Any] = {"party": data.party_id, "number": order.number, "state": order.state}
    if data.contract_id is None:  # a contract of ERP's own: ERP's amounts and dates describe it
        fields.update({"total_amount": order.total, "currency": order.currency, "sale_date": order.sale_date})
    change = ChangeCreate(tenant=run.tenant, system="tryton", entity="contract", external_id=str(order.id),
                          canonical_id=data.contract_id,
                          fields={k: v for k, v in fields.items() if v is not None}, source_ts=datetime.now(UTC),
                          idempotency_key=f"{run.workflow_id}:contract", correlation_id=run.correlation_id)
    sync_mappings(svc.engine, svc.runtime)  # the workflow worker follows activated mapping versions
    prepared, errors = prepare_all(svc.runtime, [change])
    if errors:
        raise ValueError(f"tryton contract refused: {errors[0].detail}")
    outcome = process_in_transaction(svc.engine, svc.runtime, prepared)[0]
    return str(getattr(outcome, "canonical_id", ""))


class EntitleInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    organization: str | None
    contract_tag: str
    entitlement: dict[str, str] = {}  # organization fields: the contract's status and order number


@durable_step("entitle-support")
def entitle_support(data: EntitleInput) -> list[str]:
    """The support organization entitled under the contract: its tags gain the contract's and its entitlement
    fields carry the contract status and order number (written only when they differ: repeatable)."""
    if data.organization is None:
        return []
    zendesk = services().connector("zendesk", data.tenant)
    fields = getattr(data, "entitlement", {})  # a run recorded before the field existed: tags only
    with connector_call():
        current = zendesk.read("organizations", data.organization)
        tags = [t for t in (current.fields.get("tags") or []) if t != "entitlement_ended"] if current else []
        wanted = sorted({*tags, "contract_active", data.contract_tag})
        held = (current.fields.get("organization_fields") or {}) if current else {}
        update: dict[str, Any] = {} if sorted(tags) == wanted else {"tags": wanted}
        if any(held.get(k) != v for k, v in fields.items()):
            update["organization_fields"] = fields
        if update:
            zendesk.update("organizations", data.organization, update)
    return wanted


def _order(run: RunContext, request: ActivateContractRequest, account: AccountSystems) -> Order:
    if request.contract_id is not None:
        placing = PlaceOrderInput(tenant=run.tenant, customer_id=run.customer_id, party_id=account.tryton_party,
                                  contract_id=request.contract_id)
        placed, _ = until_accepted(run, "place-order", place_order, placing, [])
        return placed
    assert request.order_id is not None
    reading = OrderInput(tenant=run.tenant, party_id=account.tryton_party, order_id=request.order_id)
    order, _ = until_accepted(run, "read-order", read_order, reading, ["order_id"])
    return order


@durable_step("await-onboarding")
def onboarding_to_await(run: RunContext) -> PendingOnboarding | None:
    """The customer's onboarding still running, if any (recorded: a replay waits for the same one)."""
    return pending_onboarding(run.tenant, run.customer_id)


def _after_onboarding(run: RunContext, contract_id: str) -> AccountSystems | None:
    """A deal won while the customer is still being onboarded (by the API, onboarding-start, or a won deal of
    another contract) waits for that onboarding, so the order reaches a customer that exists in ERP and support
    (decision 076). An onboarding carrying this very deal is not waited for: it runs this activation itself, as its
    last step. Returns the account as it is after the wait (None: nothing waited for)."""
    pending = onboarding_to_await(run)
    if pending is None or pending.contract_id == contract_id:
        return None
    try:
        result_of(pending.workflow_id)  # durable: a restart waits on, it does not wait twice
    except Exception:  # a failed onboarding: placing the order below says what is missing
        log.warning("onboarding %s failed; placing the order for %s anyway", pending.workflow_id, contract_id)
    return load_account(run)  # a second read, its own step: the party and organization onboarding made


def _activate(run: RunContext, request: ActivateContractRequest, account: AccountSystems) -> ProcessResult:
    if request.contract_id is not None:
        account = _after_onboarding(run, request.contract_id) or account
    order = _order(run, request, account)
    assert account.tryton_party is not None
    contract = record_contract(ContractInput(run=run, party_id=account.tryton_party, order=order,
                                             contract_id=request.contract_id))
    crm = {"Contract_Status__c": "Activated", "Order_Number__c": order.number or str(order.id)}
    mark_crm(run, "contract", account.salesforce_id, crm)
    opportunity = deal_in_crm(request.contract_id)
    if opportunity is not None:
        mark_crm(run, "opportunity", opportunity, crm, sobject="Opportunity")
    entitlement = {"contract_status": "active", "order_number": order.number or str(order.id)}
    tags = until_resident(run, "entitle-support", entitle_support,
                          EntitleInput(tenant=run.tenant, organization=account.zendesk_organization,
                                       contract_tag=f"contract_{order.id}", entitlement=entitlement))
    audit(AuditInput(run=run, actor=request.activated_by, action="contract.activated",
                     after={"order": order.id, "contract": contract}))
    return ProcessResult(status="completed", customer_id=run.customer_id,
                         detail={"contract_id": contract, "order": order.model_dump(exclude={"rejection"}),
                                 "crm": crm, "opportunity": opportunity, "support_tags": tags,
                                 "support_entitlement": entitlement})


@durable_step("deal-in-crm")
def deal_in_crm(contract_id: str | None) -> str | None:
    """The CRM Opportunity a contract came from (its Salesforce binding), if any. A plain read, repeatable."""
    if contract_id is None:
        return None
    with services().engine.connect() as conn:
        bound = [b["external_id"] for b in queries.bindings_of(conn, contract_id) if b["system"] == "salesforce"]
    return str(bound[0]) if bound else None


@workflow(ACTIVATE_CONTRACT)
def activate_contract(request: ActivateContractRequest) -> ProcessResult:
    wid = current_workflow_id() or workflow_id(ACTIVATE_CONTRACT, request)
    run = RunContext(process=ACTIVATE_CONTRACT, workflow_id=wid, tenant=request.tenant,
                     customer_id=request.customer_id, correlation_id=request.correlation_id or wid)
    try:
        account = load_account(run)
        if not account.found:
            raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
        return _activate(run, request, account)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
