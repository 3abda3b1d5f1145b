"""The ingest writer builds its public results without pydantic's model_construct (decision 074): they must be
the very objects model_construct would have built, or the API and the change log would drift."""

from __future__ import annotations

from datetime import UTC, datetime

from concord.hubconfig import load_runtime
from concord.ingest.models import ChangeCreate, ChangePublic, ChangeStatus, FieldIssue
from concord.ingest.outcome import change_public, decision_json
from concord.ingest.prepare import PreparedChange, prepare
from concord.ownership.gate import FieldRejection, GateDecision, PendingApproval


def _prepared() -> PreparedChange:
    return prepare(load_runtime(None), ChangeCreate(
        system="salesforce", entity="account", external_id="sf-1", fields={"Name": "Acme"},
        source_ts=datetime(2026, 1, 1, tzinfo=UTC), idempotency_key="k-1"))


def test_change_public_equals_model_construct() -> None:
    p = _prepared()
    decision = GateDecision(applied={"name": "Acme", "phone": "+1"}, previous={"name": None, "phone": None},
                            rejected=[FieldRejection("tax_id", "X", "tryton", "tax_id is owned by tryton")],
                            pending=[PendingApproval("credit_limit", 5, None, "tryton", "salesforce", 1)],
                            stale=["city"], echoes=["code"])
    built = change_public(p, "cus-1", True, decision, 2)
    expected = ChangePublic.model_construct(
        change_id=p.change_id, canonical_id="cus-1", status=ChangeStatus.PARTIAL, created=True,
        applied=["name", "phone"], rejected=[FieldIssue(field="tax_id", reason="tax_id is owned by tryton")],
        pending=["credit_limit"], stale=["city"], echoes=["code"],
        mapping_version=p.mapping_version, correlation_id=p.correlation_id,
        outbound_commands=2, replayed=False)
    assert built == expected
    assert built.model_fields_set == expected.model_fields_set
    constructed = FieldIssue.model_construct(field="tax_id", reason="tax_id is owned by tryton")
    assert built.rejected == [constructed]
    assert [r.model_fields_set for r in built.rejected] == [constructed.model_fields_set]
    assert built.model_dump_json() == expected.model_dump_json()
    assert ChangePublic.model_validate_json(built.model_dump_json()) == built
    assert built.model_copy(update={"replayed": True}).replayed is True


def test_decision_json_is_what_pydantic_writes() -> None:
    p = _prepared()
    odd = 'tax_id is owned by "tryton"\n\t\x01 ünïcode \u2028 \\ end'
    decisions = [GateDecision(), GateDecision(applied={"name": "Acme"}, previous={"name": None}),
                 GateDecision(rejected=[FieldRejection("tax_id", "X", "tryton", odd)], stale=["a", "b"])]
    results = [change_public(p, "cus-1", created, d, n) for created, d, n in zip((True, False, False), decisions,
                                                                                 (0, 1, 3), strict=True)]
    results.append(results[2].model_copy(update={"replayed": True, "review_id": "rev-1", "mapping_version": None}))
    for result in results:
        assert decision_json(result) == result.model_dump_json()
        assert ChangePublic.model_validate_json(decision_json(result)) == result
