"""Onboarding's steps. Each takes one input, returns one result, and is safe to run again with the same input:
a run killed after a step's effect but before the journal recorded its result repeats the step on recovery."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from concord.canonical.fields import JsonValue
from concord.connectors.base import Connector, ConnectorError, ExternalRecord
from concord.connectors.runtime.writes import ExactlyOnceWriter
from concord.ingest.models import ChangeCreate, ChangeError
from concord.ingest.processor import Outcome
from concord.ingest.service import prepare_all, process_in_transaction
from concord.matching.onboarding import link_or_create
from concord.security.mapping_sync import sync_engine as sync_mappings
from concord.storage import queries
from concord.workflows.engine import services
from concord.workflows.onboarding_model import (
    CrmInput,
    CrmResult,
    CustomerFacts,
    DuplicateResult,
    Enrichment,
    ErpInput,
    ErpResult,
    OnboardRequest,
    facts_from_record,
)
from concord.workflows.runs import RunContext
from concord.workflows.steps import Rejection, connector_call, durable_step, rejection_of

_SF_CREDIT = {"ok": "OK", "review": "Review", "hold": "Hold"}


class LoadedCustomer(CustomerFacts):
    found: bool = True


class ErpRecordInput(BaseModel):
    run: RunContext
    erp: ErpResult
    enrichment: Enrichment


class LifecycleInput(BaseModel):
    run: RunContext
    state: str

    def corrected(self, corrections: dict[str, Any]) -> LifecycleInput:
        return self  # nothing to correct: the customer's state is fixed elsewhere, then the step is retried


class LifecycleResult(BaseModel):
    rejection: Rejection | None = None




@durable_step("load-customer")
def load_customer(request: OnboardRequest) -> LoadedCustomer:
    svc = services()
    with svc.engine.connect() as conn:
        record = queries.golden_record(conn, request.customer_id)
        if record is None or record.tenant != request.tenant or record.entity != "account":
            return LoadedCustomer(found=False)
        bound = {b["system"]: b["external_id"] for b in queries.bindings_of(conn, request.customer_id)
                 if b["entity"] == "account"}
    facts = facts_from_record(record, bound.get("salesforce"), request)
    return LoadedCustomer(**facts.model_dump())


@durable_step("duplicate-check")
def duplicate_check(run: RunContext) -> DuplicateResult:
    svc = services()
    with svc.engine.connect() as conn:
        record = queries.golden_record(conn, run.customer_id)
    values = {} if record is None else record.values()
    return DuplicateResult(candidates=svc.duplicates.candidates(run.tenant, "account", run.customer_id, values))


@durable_step("enrich")
def enrich(facts: CustomerFacts) -> Enrichment:
    """Eligibility, classification, territory, tax region and credit profile, each from its policy table."""
    policy = services().policy
    base = facts.policy_facts()
    eligibility = policy.decide("eligibility", base)
    segment = policy.decide("classification", base)
    territory = policy.decide("territory", base)
    tax = policy.decide("tax_region", base)
    credit = policy.decide("credit_profile", {**base, "segment": segment.outputs["segment"]})
    return Enrichment(
        eligible=bool(eligibility.outputs.get("eligible")), reason=eligibility.outputs.get("reason"),
        segment=str(segment.outputs["segment"]), territory=str(territory.outputs["territory"]),
        region=str(tax.outputs["region"]), currency=str(tax.outputs["currency"]),
        tax_id_required=bool(tax.outputs.get("tax_id_required")), tax_id_type=tax.outputs.get("tax_id_type"),
        payment_terms=str(credit.outputs["payment_terms"]), credit_limit=float(credit.outputs["credit_limit"]),
        credit_status=str(credit.outputs["credit_status"]),
        decisions=[eligibility, segment, territory, tax, credit])


def _party_fields(data: ErpInput) -> dict[str, Any]:
    facts = data.facts
    fields: dict[str, Any] = {"name": facts.name, "address.street": facts.street, "address.city": facts.city,
                              "address.postal_code": facts.postal_code, "address.country": facts.country}
    if facts.email:
        fields["email"] = facts.email
    if facts.tax_id:
        fields["tax_identifier.type"] = facts.tax_id_type or data.enrichment.tax_id_type or "eu_vat"
        fields["tax_identifier.code"] = facts.tax_id
    return fields


# The party fields ERP names in a refusal → the onboarding fact a person corrects.
_FACT_OF_FIELD = {"name": "name", "email": "email", "address.street": "street", "address.city": "city",
                  "address.postal_code": "postal_code", "address.country": "country",
                  "tax_identifier.code": "tax_id", "tax_identifier.type": "tax_id_type"}


def _canonical_account(facts: CustomerFacts) -> dict[str, JsonValue]:
    """The facts as canonical account values, what the matcher compares ERP's candidates with."""
    values: dict[str, JsonValue] = {"name": facts.name, "website": facts.website, "email": facts.email,
                                    "legal_address.country": facts.country, "legal_address.city": facts.city,
                                    "legal_address.postal_code": facts.postal_code}
    if facts.tax_id:
        values["tax_profile.tax_ids"] = [{"type": facts.tax_id_type or "eu_vat", "value": facts.tax_id,
                                          "country": facts.country}]
    return {k: v for k, v in values.items() if v is not None}


def _existing_party(erp: Connector, data: ErpInput) -> ExternalRecord | None:
    """The party ERP already holds for this customer: our own (code = Concord id, a repeat after a crash), else
    one the matcher links under a variant name (same tax id or domain). A review-level match is not linked:
    precision first, the duplicate check before ERP already put look-alikes in front of a steward."""
    own = erp.search("party", {"code": data.customer_id}, 1)
    if own:
        return own[0]
    svc = services()
    sync_mappings(svc.engine, svc.runtime)
    mapper = svc.runtime.mappings.get("tryton", "account", data.tenant)
    if mapper is None:
        return None
    decision = link_or_create(erp, mapper, _canonical_account(data.facts))
    return erp.read("party", decision.external_id) if decision.external_id is not None else None


@durable_step("erp-create")
def erp_create(data: ErpInput) -> ErpResult:
    """The legal customer and its credit profile: an existing party is linked (its code becomes the customer
    number), else a party whose code is the Concord id is created (a repeat finds it)."""
    svc = services()
    erp = svc.connector("tryton", data.tenant)
    try:
        with connector_call():
            record = _existing_party(erp, data)
            if record is None:
                record = ExactlyOnceWriter(erp).create("party", _party_fields(data), idempotency_key=data.customer_id,
                                                       external_id=("code", data.customer_id)).record
            set_limit = getattr(erp, "set_credit_limit", None)
            if callable(set_limit):
                set_limit(int(record.id), Decimal(str(data.enrichment.credit_limit)))
    except ConnectorError as error:
        rejection = rejection_of(error)
        return ErpResult(rejection=rejection.model_copy(
            update={"fields": [_FACT_OF_FIELD.get(f, f) for f in rejection.fields]}))
    svc.faults.after_effect("erp-create", data.customer_id)
    return ErpResult(party_id=record.id, customer_number=str(record.fields.get("code")), record=record.fields)


def _ingest(change: ChangeCreate) -> Outcome:
    svc = services()
    sync_mappings(svc.engine, svc.runtime)  # the workflow worker follows activated mapping versions
    prepared, errors = prepare_all(svc.runtime, [change])
    if errors:
        error: ChangeError = errors[0]
        raise ValueError(f"{change.system} change refused: {error.detail}")
    return process_in_transaction(svc.engine, svc.runtime, prepared)[0]


@durable_step("erp-record")
def erp_record(data: ErpRecordInput) -> None:
    """Concord learns what ERP now holds (binding, customer number, credit profile) like any ERP change."""
    run, erp, enrichment = data.run, data.erp, data.enrichment
    assert erp.party_id is not None
    fields = {**erp.record, "customer_payment_term": enrichment.payment_terms,
              "credit_status": enrichment.credit_status, "currency": enrichment.currency}
    _ingest(ChangeCreate(tenant=run.tenant, system="tryton", entity="account", external_id=erp.party_id,
                         canonical_id=run.customer_id, fields=fields, source_ts=datetime.now(UTC),
                         idempotency_key=f"{run.workflow_id}:erp-record", correlation_id=run.correlation_id))
    services().faults.after_effect("erp-record", run.customer_id)


def _lifecycle(data: LifecycleInput) -> LifecycleResult:
    """Move the customer's lifecycle state; a move the state machine or the gate refuses (someone closed the
    customer meanwhile) comes back as a rejection, so provisioning never runs for a customer it should not."""
    run, state = data.run, data.state
    outcome = _ingest(ChangeCreate(tenant=run.tenant, system="concord", entity="account",
                                   external_id=run.customer_id, canonical_id=run.customer_id,
                                   fields={"lifecycle_state": state}, source_ts=datetime.now(UTC),
                                   idempotency_key=f"{run.workflow_id}:lifecycle:{state}",
                                   correlation_id=run.correlation_id))
    if isinstance(outcome, ChangeError):
        return LifecycleResult(rejection=Rejection(system="concord", message=outcome.detail,
                                                   fields=["lifecycle_state"], code=str(outcome.status)))
    refused = [issue for issue in outcome.rejected if issue.field == "lifecycle_state"]
    if refused:
        return LifecycleResult(rejection=Rejection(system="concord", message=refused[0].reason,
                                                   fields=["lifecycle_state"]))
    return LifecycleResult()


@durable_step("set-lifecycle")
def set_lifecycle(data: LifecycleInput) -> LifecycleResult:
    result = _lifecycle(data)
    if result.rejection is None:
        services().faults.after_effect(f"lifecycle-{data.state}", data.run.customer_id)
    return result


@durable_step("crm-write-back")
def crm_write_back(data: CrmInput) -> CrmResult:
    """ERP customer number, payment terms and credit status onto the CRM account (an update: repeatable)."""
    if data.salesforce_id is None:
        return CrmResult()
    svc = services()
    fields = {"ERP_Customer_Number__c": data.customer_number, "Payment_Terms__c": data.enrichment.payment_terms,
              "Credit_Status__c": _SF_CREDIT.get(data.enrichment.credit_status, "Review")}
    crm = svc.connector("salesforce", data.tenant)
    try:
        with connector_call():
            current = crm.read("Account", data.salesforce_id)
            # Read before writing: a repeat after a crash finds the values there and writes nothing.
            if current is None or any(current.fields.get(k) != v for k, v in fields.items()):
                crm.update("Account", data.salesforce_id, fields)
    except ConnectorError as error:
        return CrmResult(salesforce_id=data.salesforce_id, rejection=rejection_of(error))
    svc.faults.after_effect("crm-write-back", data.customer_number)
    return CrmResult(salesforce_id=data.salesforce_id, written=fields)


@durable_step("publish-onboarded")
def publish_onboarded(data: LifecycleInput) -> LifecycleResult:
    """The customer becomes active; ingest derives CustomerOnboarded from onboarding → active and writes it to
    the outbox in the same transaction (the existing event path), once per change idempotency key."""
    result = _lifecycle(data)
    if result.rejection is None:
        services().faults.after_effect("publish-onboarded", data.run.customer_id)
    return result
