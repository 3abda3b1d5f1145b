"""Steps the lifecycle processes share: find the customer's systems, record what changed in Concord (the event
path derives CreditStatusChanged, CreditHoldApplied/Released, AccountSuspended/Closed from it), mark the CRM
account, and append audit entries. Each is safe to repeat with the same input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from concord.connectors.base import ConnectorError
from concord.ingest.models import ChangeCreate
from concord.ingest.service import prepare_all, process_in_transaction
from concord.security.audit import Entry, append_many
from concord.security.mapping_sync import sync_engine as sync_mappings
from concord.storage import queries
from concord.workflows.engine import services
from concord.workflows.journal import run_status
from concord.workflows.lifecycle_model import AccountSystems
from concord.workflows.onboarding_model import workflow_id_for
from concord.workflows.provisioning import CHILDREN
from concord.workflows.runs import RunContext, until_accepted
from concord.workflows.steps import Rejection, connector_call, durable_step, rejection_of

SF_CREDIT = {"ok": "OK", "review": "Review", "hold": "Hold"}
SF_STAGE = {"prospect": "Prospect", "qualified": "Qualified", "onboarding": "Onboarding", "active": "Active",
            "credit_hold": "Credit Hold", "suspended": "Suspended", "closed": "Closed"}


class RecordInput(BaseModel):
    """Fields a system now holds for the customer, recorded like any inbound change of that system."""

    model_config = ConfigDict(frozen=True)

    run: RunContext
    system: str
    external_id: str  # the record's id in `system` (the Concord id for Concord's own fields)
    fields: dict[str, Any]
    label: str  # part of the idempotency key: one recording per run and label


class CrmMark(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    salesforce_id: str | None
    fields: dict[str, Any]
    sobject: str = "Account"  # or the Opportunity of a won deal (activate-contract)

    def corrected(self, corrections: dict[str, Any]) -> CrmMark:
        return self  # nothing to correct: a retry sends the same fields


class CrmMarked(BaseModel):
    model_config = ConfigDict(frozen=True)

    written: dict[str, Any] = {}
    rejection: Rejection | None = None


class AuditInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext
    actor: str
    action: str
    after: dict[str, Any] = {}


def _onboarded_ids(tenant: str, customer_id: str) -> dict[str, dict[str, str]]:
    onboarding = workflow_id_for(tenant, customer_id)
    status = run_status(onboarding)
    output = None if status is None else status.output
    systems = getattr(output, "systems", None)
    if isinstance(systems, dict):
        return systems
    # Onboarding still running: a won deal's order is placed as its last step (decision 076), after its
    # provisioning children finished — their results name the support organization, billing customer, group.
    made: dict[str, dict[str, str]] = {}
    for child in CHILDREN:
        child_status = run_status(f"{onboarding}/{child}")
        result = None if child_status is None else child_status.output
        ids, system = getattr(result, "ids", None), getattr(result, "system", None)
        if isinstance(ids, dict) and ids and isinstance(system, str):
            made[system] = dict(ids)
    return made


class PendingOnboarding(BaseModel):
    """The customer's onboarding run while it has not finished, and the won deal it carries (if any)."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    contract_id: str | None = None


def pending_onboarding(tenant: str, customer_id: str) -> PendingOnboarding | None:
    """Read from the workflow engine (call it in a step or a preflight, never straight from a workflow body)."""
    status = run_status(workflow_id_for(tenant, customer_id))
    if status is None or status.status not in ("PENDING", "ENQUEUED"):
        return None
    return PendingOnboarding(workflow_id=status.workflow_id, contract_id=getattr(status.input, "contract_id", None))


@durable_step("load-account")
def load_account(run: RunContext) -> AccountSystems:
    """The golden record's state and the customer's ids downstream (bindings, then onboarding's output)."""
    with services().engine.connect() as conn:
        record = queries.golden_record(conn, run.customer_id)
        if record is None or record.tenant != run.tenant or record.entity != "account":
            return AccountSystems(found=False)
        bound = {b["system"]: b["external_id"] for b in queries.bindings_of(conn, run.customer_id)
                 if b["entity"] == "account"}
    made = _onboarded_ids(run.tenant, run.customer_id)
    state, credit = record.value("lifecycle_state"), record.value("credit_status")
    return AccountSystems(
        lifecycle_state=None if state is None else str(state), credit_status=None if credit is None else str(credit),
        tryton_party=bound.get("tryton") or made.get("tryton", {}).get("party"),
        salesforce_id=bound.get("salesforce") or made.get("salesforce", {}).get("account"),
        stripe_customer=bound.get("stripe") or made.get("stripe", {}).get("customer"),
        stripe_subscription=made.get("stripe", {}).get("subscription"),
        scim_group=made.get("scim", {}).get("group"), scim_user=made.get("scim", {}).get("user"),
        zendesk_organization=bound.get("zendesk") or made.get("zendesk", {}).get("organization"))


def ingest_fields(data: RecordInput) -> None:
    svc = services()
    run = data.run
    change = ChangeCreate(tenant=run.tenant, system=data.system, entity="account",
                          external_id=data.external_id,
                          canonical_id=run.customer_id, fields=data.fields, source_ts=datetime.now(UTC),
                          idempotency_key=f"{run.workflow_id}:{data.label}", correlation_id=run.correlation_id)
    sync_mappings(svc.engine, svc.runtime)  # the workflow worker follows activated mapping versions
    prepared, errors = prepare_all(svc.runtime, [change])
    if errors:
        raise ValueError(f"{data.system} change refused: {errors[0].detail}")
    process_in_transaction(svc.engine, svc.runtime, prepared)


@durable_step("record-fields")
def record_fields(data: RecordInput) -> None:
    """Concord learns the new values (lifecycle, credit status); the ingest path writes the golden record and the
    events they imply to the outbox in one transaction, once per idempotency key."""
    ingest_fields(data)
    services().faults.after_effect(f"record-{data.label}", data.run.customer_id)


@durable_step("crm-mark")
def crm_mark(data: CrmMark) -> CrmMarked:
    """Fields onto the CRM account (read first: a repeat after a crash writes nothing)."""
    if data.salesforce_id is None:
        return CrmMarked()
    crm = services().connector("salesforce", data.tenant)
    try:
        with connector_call():
            sobject = getattr(data, "sobject", "Account")  # a run recorded before the field existed: an account
            current = crm.read(sobject, data.salesforce_id)
            if current is None or any(current.fields.get(k) != v for k, v in data.fields.items()):
                crm.update(sobject, data.salesforce_id, data.fields)
    except ConnectorError as error:
        return CrmMarked(rejection=rejection_of(error))
    return CrmMarked(written=data.fields)


def mark_crm(run: RunContext, label: str, salesforce_id: str | None, fields: dict[str, Any],
             sobject: str = "Account") -> None:
    """Mark the CRM account (or another record: `sobject`); a refusal becomes an exception task (retry or cancel),
    never a silent skip. `label` tells this mark's tasks from another mark's in the same run."""
    until_accepted(run, f"crm-{label}", crm_mark,
                   CrmMark(tenant=run.tenant, salesforce_id=salesforce_id, fields=fields, sobject=sobject), [])


@durable_step("audit")
def audit(data: AuditInput) -> None:
    """One audit-trail entry per governed action. The step's result is recorded right after, so a crash between
    the two can repeat an entry: each carries the run id and action, which makes a repeat recognisable."""
    run = data.run
    entry = Entry(tenant=run.tenant, actor=data.actor, action=data.action, object_type="workflow",
                  object_id=run.workflow_id, customer=run.customer_id, system="concord",
                  correlation_id=run.correlation_id, after=data.after or None)
    with services().engine.begin() as tx:
        append_many(tx, [entry])
