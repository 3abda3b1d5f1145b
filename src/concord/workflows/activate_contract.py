"""activate-contract (issue #5 part 2): a signed contract goes live and carries its order.

The order is the ERP sale order (Tryton): the run reads it for the customer's party and accepts it once ERP has
confirmed it (a draft, quoted or cancelled order becomes a task: retry once ERP confirms, or correct the order id).
Then the order and its status flow on: recorded as the customer's contract (ERP owns its status; the event path
publishes ContractActivated), reported to CRM (contract status and order number on the account) and to support
(the Zendesk organization is entitled under the contract). One run per order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dbos import DBOS
from pydantic import BaseModel, ConfigDict

from concord.connectors.base import ConnectorError
from concord.ingest.models import ChangeCreate
from concord.ingest.service import prepare_all, process_in_transaction
from concord.workflows.engine import services
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    AccountSystems,
    ActivateContractRequest,
    ProcessResult,
    workflow_id,
)
from concord.workflows.lifecycle_steps import AuditInput, audit, load_account, mark_crm
from concord.workflows.renewal import CustomerVanished
from concord.workflows.runs import Cancelled, RunContext, until_accepted
from concord.workflows.steps import Rejection, RetryLater, connector_call, durable_step

# Tryton sale states → the one the contract mapping knows (an order ERP confirmed stays so while it is processed).
_ORDER_STATE = {"draft": "draft", "quotation": "draft", "confirmed": "confirmed", "processing": "confirmed",
                "done": "confirmed", "cancelled": "cancelled"}


class OrderInput(BaseModel):
    model_config = ConfigDict(frozen=True)

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
    erp: Any = services().connector("tryton")
    try:
        with connector_call():
            sales = erp.list_sales(int(data.party_id))
    except ConnectorError as error:  # a refused *read* says nothing about the order: try again
        raise RetryLater(str(error)) from None
    sale = next((s for s in sales if s.id == data.order_id), None)
    if sale is None:
        return Order(rejection=Rejection(system="tryton", fields=["order_id"],
                                         message=f"ERP has no order {data.order_id} for party {data.party_id}"))
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


@durable_step("record-contract")
def record_contract(data: ContractInput) -> str:
    """The order recorded as ERP reports it, like any inbound ERP change: the golden contract, bound to the
    order, and ContractActivated in the outbox in one transaction (once per idempotency key). Returns its id."""
    run, order, svc = data.run, data.order, services()
    fields = {"party": data.party_id, "number": order.number, "state": order.state, "total_amount": order.total,
              "currency": order.currency, "sale_date": order.sale_date}
    change = ChangeCreate(tenant=run.tenant, system="tryton", entity="contract", external_id=str(order.id),
                          fields={k: v for k, v in fields.items() if v is not None}, source_ts=datetime.now(UTC),
                          idempotency_key=f"{run.workflow_id}:contract", correlation_id=run.correlation_id)
    prepared, errors = prepare_all(svc.runtime, [change])
    if errors:
        raise ValueError(f"tryton contract refused: {errors[0].detail}")
    outcome = process_in_transaction(svc.engine, svc.runtime, prepared)[0]
    return str(getattr(outcome, "canonical_id", ""))


class EntitleInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    organization: str | None
    contract_tag: str


@durable_step("entitle-support")
def entitle_support(data: EntitleInput) -> list[str]:
    """The support organization entitled under the contract: its tags gain the contract's (a set: repeatable)."""
    if data.organization is None:
        return []
    zendesk = services().connector("zendesk")
    with connector_call():
        current = zendesk.read("organizations", data.organization)
        tags = [t for t in (current.fields.get("tags") or []) if t != "entitlement_ended"] if current else []
        wanted = sorted({*tags, "contract_active", data.contract_tag})
        if sorted(tags) != wanted:
            zendesk.update("organizations", data.organization, {"tags": wanted})
    return wanted


def _activate(run: RunContext, request: ActivateContractRequest, account: AccountSystems) -> ProcessResult:
    order, _ = until_accepted(run, "read-order", read_order,
                              OrderInput(party_id=account.tryton_party, order_id=request.order_id), ["order_id"])
    assert account.tryton_party is not None
    contract = record_contract(ContractInput(run=run, party_id=account.tryton_party, order=order))
    crm = {"Contract_Status__c": "Activated", "Order_Number__c": order.number or str(order.id)}
    mark_crm(run, "contract", account.salesforce_id, crm)
    tags = entitle_support(EntitleInput(organization=account.zendesk_organization,
                                        contract_tag=f"contract_{order.id}"))
    audit(AuditInput(run=run, actor=request.activated_by, action="contract.activated",
                     after={"order": order.id, "contract": contract}))
    return ProcessResult(status="completed", customer_id=run.customer_id,
                         detail={"contract_id": contract, "order": order.model_dump(exclude={"rejection"}),
                                 "crm": crm, "support_tags": tags})


@DBOS.workflow(name=ACTIVATE_CONTRACT)
def activate_contract(request: ActivateContractRequest) -> ProcessResult:
    wid = DBOS.workflow_id or workflow_id(ACTIVATE_CONTRACT, request)
    run = RunContext(process=ACTIVATE_CONTRACT, workflow_id=wid, tenant=request.tenant,
                     customer_id=request.customer_id, correlation_id=request.correlation_id or wid)
    try:
        account = load_account(run)
        if not account.found:
            raise CustomerVanished(f"customer {run.customer_id} does not exist in tenant {run.tenant}")
        return _activate(run, request, account)
    except Cancelled as cancelled:
        return ProcessResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
