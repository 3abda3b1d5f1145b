"""The field comparer (pure): push for fields the system does not own, pull for its own, and a fast path that
never hides a difference the full comparison would report."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from concord.connectors.base import ExternalRecord
from concord.hubconfig import Runtime
from concord.reconciliation.drift import DriftKind, FieldComparer, Heal, is_gone

GOLDEN = {"name": "Initech", "phone": "+1 555 0101", "erp_customer_number": "C-7", "credit_status": "hold",
          "industry": "Energy"}
NATIVE = {"Id": "001A", "Name": "Initech", "Phone": "+1 555 0101", "ERP_Customer_Number__c": "C-7",
          "Credit_Status__c": "On Hold", "Industry": "Energy"}


def comparer(runtime: Runtime) -> FieldComparer:
    mapper = runtime.mappings.get("salesforce", "account")
    assert mapper is not None
    return FieldComparer("default", "salesforce", mapper, runtime.rules)


def record(**changes: Any) -> ExternalRecord:
    return ExternalRecord(object="Account", id="001A", fields={**NATIVE, **changes})


def test_equal_records_have_no_drift(runtime: Runtime) -> None:
    assert comparer(runtime).drifts("cus-1", GOLDEN, record()) == []


def test_erp_owned_value_changed_in_crm_is_pushed_and_crm_owned_is_pulled(runtime: Runtime) -> None:
    found = comparer(runtime).drifts("cus-1", GOLDEN, record(Credit_Status__c="OK", Name="Initech Corp"))
    by_field = {d.field: d for d in found}
    assert set(by_field) == {"credit_status", "name"}
    push, pull = by_field["credit_status"], by_field["name"]
    assert (push.kind, push.heal, push.owner, push.golden, push.system_value) == (
        DriftKind.FIELD, Heal.PUSH, "tryton", "hold", {"Credit_Status__c": "OK"})
    assert (pull.heal, pull.owner, pull.golden, pull.system_value) == (Heal.PULL, "salesforce", "Initech",
                                                                       "Initech Corp")


def test_unmappable_record_is_reported_not_healed(runtime: Runtime) -> None:
    [drift] = comparer(runtime).drifts("cus-1", GOLDEN, record(Credit_Status__c="Maybe"))
    assert drift.heal is Heal.NONE and drift.field == "Credit_Status__c"


def test_gone_means_deleted_or_archived() -> None:
    assert is_gone(ExternalRecord(object="x", id="1", fields={}, deleted=True))
    assert is_gone(ExternalRecord(object="x", id="1", fields={"active": False}))
    assert is_gone(ExternalRecord(object="x", id="1", fields={"archived": True}))
    assert not is_gone(ExternalRecord(object="x", id="1", fields={"active": True}))


values = st.one_of(st.none(), st.sampled_from(["Initech", "Initech Corp", "C-7", "C-8", "+1 555 0101", ""]))


@settings(max_examples=150)
@given(st.fixed_dictionaries({}, optional={k: values for k in ("Name", "Phone", "ERP_Customer_Number__c",
                                                                "Industry")}),
       st.fixed_dictionaries({}, optional={k: values for k in ("name", "phone", "erp_customer_number",
                                                                "industry")}),
       st.sampled_from([None, "OK", "On Hold", "In Review"]))
def test_the_fast_path_never_hides_a_difference(runtime: Runtime, native: dict[str, Any], golden: dict[str, Any],
                                                 status: str | None) -> None:
    rec = record(**native, Credit_Status__c=status)
    values = {**GOLDEN, **golden}
    if comparer(runtime).same(values, rec):
        full = comparer(runtime)
        full.same = lambda _g, _r: False  # type: ignore[method-assign]  # force the full comparison
        assert full.drifts("cus-1", values, rec) == []
