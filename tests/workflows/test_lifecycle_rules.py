"""The pure parts of the lifecycle processes: credit assessment, what sales sees, the blocked explanation, and
the business keys."""

from __future__ import annotations

from decimal import Decimal

from concord.tasks.models import TaskKind, TaskPublic, TaskStatus
from concord.workflows.billing_sync import BillingFigures, crm_fields
from concord.workflows.credit import ErpCredit, assess
from concord.workflows.explain import RunFact, explain
from concord.workflows.lifecycle_model import CLOSE, SUSPEND, AmendRequest, GovernedRequest, workflow_id


def test_credit_holds_on_overdue_limit_or_lifecycle() -> None:
    assert assess(ErpCredit(receivable=Decimal(100), credit_limit=Decimal(1000))).status == "ok"
    assert assess(ErpCredit(receivable=Decimal(900), credit_limit=Decimal(1000))).status == "review"
    over = assess(ErpCredit(receivable=Decimal(1200), credit_limit=Decimal(1000)))
    assert over.hold and "exceed the credit limit" in over.reasons[0]
    assert assess(ErpCredit(overdue=Decimal("0.01"))).hold
    assert assess(ErpCredit(billing_overdue_cents=1)).hold
    held = assess(ErpCredit(lifecycle_state="credit_hold"))
    assert held.hold and held.status == "hold" and held.reasons == ["finance placed the customer on credit hold"]
    assert not assess(ErpCredit(receivable=Decimal(10**9))).hold  # no limit set: nothing to exceed


def test_sales_sees_paid_open_or_overdue() -> None:
    assert crm_fields(BillingFigures())["Billing_Status__c"] == "Paid"
    open_only = crm_fields(BillingFigures(open_amount=Decimal("420.50"), open_invoices=2))
    assert open_only == {"Open_Receivables__c": 420.5, "Overdue_Receivables__c": 0.0, "Open_Invoices__c": 2,
                         "Billing_Status__c": "Open"}
    late = BillingFigures(open_amount=Decimal(80), overdue_amount=Decimal(80), open_invoices=1)
    assert crm_fields(late)["Billing_Status__c"] == "Overdue"


def _task(kind: TaskKind, system: str, step: str) -> TaskPublic:
    return TaskPublic(id="task-1", tenant="default", customer_id="c1", workflow_id="onboard:default:c1",
                      process="onboard-customer", step=step, attempt=1, kind=kind, system=system,
                      message="refused", correlation_id="corr-9", status=TaskStatus.OPEN, created_at=0.0)


def test_explain_names_category_step_and_links() -> None:
    cases = [(TaskKind.REJECTED, "tryton", "erp-create", "finance_validation"),
             (TaskKind.MISSING_DATA, "concord", "validate", "missing_master_data"),
             (TaskKind.REJECTED, "scim", "provision-scim", "downstream_provisioning_failure"),
             (TaskKind.FAILED, "provision-stripe", "provision-stripe", "downstream_provisioning_failure"),
             (TaskKind.APPROVAL, "concord", "approval", "awaiting_approval"),
             (TaskKind.RESIDENCY, "tryton", "erp-create", "data_residency")]
    for kind, system, step, category in cases:
        answer = explain("c1", {"lifecycle_state": "onboarding"}, [_task(kind, system, step)], [])
        assert (answer.blocked, answer.category, answer.waiting_step) == (True, category, step), answer
        assert answer.task_id == "task-1" and answer.links["task"] == "/api/v1/tasks/task-1"
        assert "corr-9" in answer.links["correlation_trail"]
    paused = [RunFact(workflow_id="amend-subscription:default:c1:Q1", process="amend-subscription",
                      status="PENDING")]
    held = explain("c1", {"lifecycle_state": "active", "credit_status": "hold"}, [], paused)
    assert held.category == "credit_hold" and held.waiting_step == "credit-check"
    assert held.workflow_id == "amend-subscription:default:c1:Q1" and "credit status is hold" in held.reasons
    fine = explain("c1", {"lifecycle_state": "active", "credit_status": "ok"}, [], [])
    assert not fine.blocked and fine.category == "none"


def _run(workflow_id: str, process: str, parent: str | None = None, status: str = "PENDING") -> RunFact:
    return RunFact(workflow_id=workflow_id, process=process, status=status, parent=parent)


def test_explain_says_what_a_won_deal_onboarding_waits_for() -> None:
    onboarding = _run("onboard:default:c1", "onboard-customer")
    converting = explain("c1", {"lifecycle_state": "prospect"}, [],
                         [onboarding, _run("convert-lead:default:c1", "convert-lead")])
    assert (converting.blocked, converting.category) == (False, "none")
    assert (converting.waiting_step, converting.workflow_id) == ("convert-lead", "onboard:default:c1")
    assert "qualify the lead" in converting.reason and "convert-lead:default:c1" in converting.reason
    child = _run("activate-contract:default:c1:k1", "activate-contract", parent=onboarding.workflow_id)
    ordering = explain("c1", {"lifecycle_state": "active"}, [], [onboarding, child])
    assert ordering.waiting_step == "activate-contract" and "place the won deal's order" in ordering.reason
    # A deal won while another onboarding runs: the activation waits for it, and a task on that onboarding is
    # still what the answer leads with (a person must act), the wait listed among the reasons.
    behind = _run("activate-contract:default:c1:k2", "activate-contract")
    waiting = explain("c1", {"lifecycle_state": "onboarding"}, [], [onboarding, behind])
    assert (waiting.waiting_step, waiting.workflow_id) == ("await-onboarding", behind.workflow_id)
    assert "waits for onboard:default:c1 to finish" in waiting.reason
    stuck = explain("c1", {"lifecycle_state": "onboarding"}, [_task(TaskKind.REJECTED, "tryton", "erp-create")],
                    [onboarding, behind])
    assert stuck.blocked and stuck.waiting_step == "erp-create" and waiting.reason in stuck.reasons
    done = explain("c1", {"lifecycle_state": "active"}, [],
                   [_run("onboard:default:c1", "onboard-customer", status="SUCCESS"),
                    _run("convert-lead:default:c1", "convert-lead", status="SUCCESS")])
    assert done.reason == "nothing blocks this customer" and done.waiting_step is None


def test_business_keys() -> None:
    amend = AmendRequest(customer_id="c1", change_id="Q-1", seats=2)
    assert workflow_id("amend-subscription", amend) == "amend-subscription:default:c1:Q-1"
    governed = GovernedRequest(customer_id="c1", case_id="CASE-1", requested_by="alice", reason="r")
    assert workflow_id(CLOSE, governed) == "close-account:default:c1"  # a customer closes once
    assert workflow_id(SUSPEND, governed) == "suspend-account:default:c1:CASE-1"
