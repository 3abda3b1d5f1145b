"""Customer onboarding, as an enterprise runs it (issue #5 part 3):

validate mandatory fields → duplicate check → enrich tax, region and credit profile from policy → create the legal
customer and its credit profile in ERP → write the ERP customer number, credit status and payment terms back to
CRM → publish CustomerOnboarded → provision identity, support and billing side by side.

Started with a won deal (`contract_id`, decision 076), the run first sees a lead converted and, after
provisioning, places the deal's order (won_deal.py: convert-lead and activate-contract as child runs under their
own business keys).

Every refusal on the way (missing data, a likely duplicate, a policy refusal, a system rejecting the data) opens
an exception task and pauses the run until a person corrects the data, retries or cancels.
"""

from __future__ import annotations

from concord.canonical.lifecycle import LifecycleState
from concord.tasks.models import TaskKind
from concord.workflows.journal import RunHandle, current_workflow_id, start_workflow, workflow
from concord.workflows.onboarding_model import (
    CORRECTABLE,
    PROCESS,
    CrmInput,
    CustomerFacts,
    Enrichment,
    ErpInput,
    ErpResult,
    OnboardRequest,
    OnboardResult,
    workflow_id_for,
)
from concord.workflows.onboarding_steps import (
    ErpRecordInput,
    LifecycleInput,
    crm_write_back,
    duplicate_check,
    enrich,
    erp_create,
    erp_record,
    load_customer,
    publish_onboarded,
    set_lifecycle,
)
from concord.workflows.provisioning import CHILDREN, ProvisionInput, ProvisionResult
from concord.workflows.runs import Cancelled, Problem, RunContext, ask, correct, until_accepted
from concord.workflows.won_deal import convert_first, place_won_order


class CustomerVanished(LookupError):
    """The account was deleted between the start and the first step (the API checked it existed)."""


def _complete(run: RunContext, facts: CustomerFacts) -> CustomerFacts:
    """Validate mandatory fields; each gap becomes a task until the data is complete."""
    attempt = 1
    while missing := facts.missing():
        problem = Problem(kind=TaskKind.MISSING_DATA, system="concord", fields=missing,
                          message=f"mandatory master data missing: {', '.join(missing)}")
        facts, attempt = correct(run, "validate", attempt, problem, CORRECTABLE, facts)
    return facts


def _not_duplicate(run: RunContext) -> None:
    found = duplicate_check(run).candidates
    if found:
        others = ", ".join(sorted({c.canonical_id for c in found}))
        problem = Problem(kind=TaskKind.DUPLICATE, system="concord", fields=sorted({c.key for c in found}),
                          message=f"likely the same customer as {others}: resolve to onboard anyway")
        ask(run, "duplicate-check", 1, problem, [], {"candidates": [c.model_dump() for c in found]})


def _enriched(run: RunContext, facts: CustomerFacts) -> tuple[CustomerFacts, Enrichment]:
    """Policy decisions; an ineligible customer or a tax id the region requires becomes a task."""
    attempt = 1
    while True:
        enrichment = enrich(facts)
        if not enrichment.eligible:
            problem = Problem(kind=TaskKind.INELIGIBLE, system="policy", fields=["country"],
                              message=enrichment.reason or "not eligible for onboarding")
        elif missing := facts.missing(enrichment.tax_id_required):
            problem = Problem(kind=TaskKind.MISSING_DATA, system="policy", fields=missing,
                              message=f"region {enrichment.region} requires: {', '.join(missing)}")
        else:
            return facts, enrichment
        facts, attempt = correct(run, "enrich", attempt, problem, CORRECTABLE, facts)


def _provision(run: RunContext, request: OnboardRequest, name: str, currency: str) -> dict[str, ProvisionResult]:
    handles: dict[str, RunHandle[ProvisionResult]] = {}
    for system, child in CHILDREN.items():
        child_run = run.model_copy(update={"workflow_id": f"{run.workflow_id}/{system}"})
        data = ProvisionInput(run=child_run, name=name, admin_email=request.admin_email,
                              plan_price=request.plan_price, seats=request.seats, support_tier=request.support_tier,
                              currency=currency)
        handles[system] = start_workflow(child, data, child_run.workflow_id)
    return {system: handle.get_result() for system, handle in handles.items()}


def _run(run: RunContext, request: OnboardRequest) -> OnboardResult:
    convert_first(run, request)  # a won deal on a lead: the lead is qualified first (decision 076)
    loaded = load_customer(request)
    if not loaded.found:
        raise CustomerVanished(f"customer {request.customer_id} does not exist in tenant {request.tenant}")
    facts = _complete(run, CustomerFacts.model_validate(loaded.model_dump(exclude={"found"})))
    _not_duplicate(run)
    facts, enrichment = _enriched(run, facts)
    until_accepted(run, "set-lifecycle", set_lifecycle,
                   LifecycleInput(run=run, state=LifecycleState.ONBOARDING.value), [])
    erp, accepted = until_accepted(run, "erp-create", erp_create,
                                   ErpInput(customer_id=run.customer_id, facts=facts, enrichment=enrichment,
                                            tenant=run.tenant),
                                   CORRECTABLE)
    assert erp.party_id is not None and erp.customer_number is not None
    erp_record(ErpRecordInput(run=run, erp=erp, enrichment=enrichment))
    crm, _ = until_accepted(run, "crm-write-back", crm_write_back,
                            CrmInput(tenant=run.tenant, salesforce_id=facts.salesforce_id,
                                     customer_number=erp.customer_number, enrichment=enrichment), [])
    until_accepted(run, "publish-onboarded", publish_onboarded,
                   LifecycleInput(run=run, state=LifecycleState.ACTIVE.value), [])
    provisioned = _provision(run, request, accepted.facts.name or "", enrichment.currency)
    # Last, so the order reaches a customer that exists everywhere (ERP party, CRM, support organization).
    contract = place_won_order(run, request.contract_id)
    result = _result(run, erp, crm.salesforce_id, enrichment, provisioned)
    return result.model_copy(update={"contract": contract})


def _result(run: RunContext, erp: ErpResult, salesforce_id: str | None, enrichment: Enrichment,
            provisioned: dict[str, ProvisionResult]) -> OnboardResult:
    systems = {"tryton": {"party": erp.party_id or ""}}
    if salesforce_id:
        systems["salesforce"] = {"account": salesforce_id}
    systems.update({r.system: r.ids for r in provisioned.values() if r.ids})
    return OnboardResult(status="completed", customer_id=run.customer_id, erp_party_id=erp.party_id,
                         customer_number=erp.customer_number, salesforce_id=salesforce_id, systems=systems,
                         decisions=enrichment.decisions,
                         not_provisioned=sorted(r.system for r in provisioned.values() if r.cancelled))


@workflow(PROCESS)
def onboard_customer(request: OnboardRequest) -> OnboardResult:
    workflow_id = current_workflow_id() or workflow_id_for(request.tenant, request.customer_id)
    # The starter fills the correlation id: anything random here would differ when the run is replayed.
    run = RunContext(process=PROCESS, workflow_id=workflow_id, tenant=request.tenant,
                     customer_id=request.customer_id, correlation_id=request.correlation_id or workflow_id)
    try:
        return _run(run, request)
    except Cancelled as cancelled:
        return OnboardResult(status="cancelled", customer_id=run.customer_id, cancelled_at=cancelled.step)
