"""why_blocked: every reason a customer can be held up, most fundamental first; none for a healthy customer."""

from __future__ import annotations

from concord.console.blocked import CustomerFacts, why_blocked


def test_a_healthy_customer_is_not_blocked() -> None:
    facts = CustomerFacts(lifecycle_state="active", lifecycle_system="concord", credit_status="ok",
                          credit_system="tryton", related=[{"entity": "subscription", "id": "s1", "status": "active"}])
    assert why_blocked(facts) == []


def test_every_cause_is_reported_with_its_source() -> None:
    facts = CustomerFacts(
        lifecycle_state="credit_hold", lifecycle_system="tryton", credit_status="hold", credit_system="tryton",
        related=[{"entity": "subscription", "id": "sub_1", "status": "past_due", "system": "stripe"},
                 {"entity": "contract", "id": "c1", "status": "closed", "system": "salesforce"}],
        open_tasks=[{"process": "onboard-customer", "step": "validate", "message": "tax id missing",
                     "system": "concord"}],
        failed_commands=[{"type": "update_account", "target": "zendesk", "last_error": "DataRejected: name"}],
        dead_letters=[{"type": "CustomerCreated", "subscription": "partner-webhook", "error": "HTTP 500"}],
        pending_approvals=[{"system": "zendesk", "field": "legal_name"}],
        duplicate_reviews=[{"other": "cus_9", "score": 0.91}])
    reasons = why_blocked(facts)
    assert [r.code for r in reasons] == ["lifecycle", "credit", "subscription", "task", "sync", "dead_letter",
                                         "duplicate", "approval"]
    assert reasons[6].message == "possible duplicate of cus_9 awaits a steward (score 0.91)"
    assert reasons[0].message == "customer is on credit hold" and reasons[0].system == "tryton"
    assert reasons[2].message == "subscription sub_1 is past_due" and reasons[2].system == "stripe"
    assert reasons[3].message == "onboard-customer waits at validate: tax id missing"
    assert reasons[4].message == "update_account to zendesk failed: DataRejected: name"
