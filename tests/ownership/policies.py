"""A small ownership policy for gate tests: a few account fields in each mode, owned by different systems."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

from concord.canonical.fields import JsonValue
from concord.canonical.golden import GoldenRecord
from concord.canonical.models import ENTITY_TYPES
from concord.ownership.gate import GateDecision, IncomingChange, evaluate
from concord.ownership.policy import FieldRule, OwnershipMode, OwnershipPolicy, RuleIndex

TENANT = "t1"
SYSTEMS = ["crm", "erp", "billing", "support", "concord"]
# field → (owner, mode); lifecycle_state is left out of generated changes (its transitions are order-dependent
# by design and have their own tests).
FIELD_RULES: dict[str, tuple[str, OwnershipMode]] = {
    "name": ("crm", OwnershipMode.OWNER_ONLY),
    "legal_name": ("erp", OwnershipMode.OWNER_ONLY),
    "phone": ("crm", OwnershipMode.FILL_IF_EMPTY),
    "domain": ("erp", OwnershipMode.FILL_IF_EMPTY),
    "industry": ("crm", OwnershipMode.APPROVAL),
    "website": ("billing", OwnershipMode.APPROVAL),
    "sales_owner": ("concord", OwnershipMode.OWNER_ONLY),
}
FIELDS = sorted(FIELD_RULES)
VALUES: st.SearchStrategy[JsonValue] = st.sampled_from(["a", "b", "c", None])


def policy_document() -> dict[str, Any]:
    account: dict[str, Any] = {"*": {"owner": "crm", "mode": "approval"},
                               "lifecycle_state": {"owner": "concord", "mode": "owner_only"}}
    account |= {path: {"owner": owner, "mode": mode.value} for path, (owner, mode) in FIELD_RULES.items()}
    entities: dict[str, Any] = {e: {"*": {"owner": "crm"}} for e in ENTITY_TYPES}
    entities["account"] = account
    return {"version": 1, "entities": entities}


@cache
def rules() -> RuleIndex:
    return RuleIndex(OwnershipPolicy.model_validate(policy_document()))


def rule(path: str) -> FieldRule:
    return rules().rule_for(TENANT, "account", path)


def empty_record() -> GoldenRecord:
    return GoldenRecord(tenant=TENANT, entity="account", id="cus_1")


def incoming(system: str, ts: int, values: dict[str, JsonValue], change_id: str | None = None,
             approved_by: str | None = None) -> IncomingChange:
    return IncomingChange(tenant=TENANT, entity="account", system=system, source_ts_us=ts,
                          change_id=change_id or f"{system}-{ts}", values=values,
                          mapping_version=f"{system}/account@1", approved_by=approved_by)


@st.composite
def change_sequences(draw: st.DrawFn, max_size: int = 6) -> list[IncomingChange]:
    """Changes from several systems over a few fields, each with its own (distinct) source time."""
    stamps = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=max_size, unique=True))
    out = []
    for i, ts in enumerate(stamps):
        system = draw(st.sampled_from(SYSTEMS))
        paths = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
        out.append(incoming(system, ts, {p: draw(VALUES) for p in paths}, change_id=f"ch-{i}"))
    return out


def apply_all(changes: list[IncomingChange], record: GoldenRecord | None = None
              ) -> tuple[GoldenRecord, list[GateDecision]]:
    current = record or empty_record()
    decisions = []
    for change in changes:
        current, decision = evaluate(current, change, rules())
        decisions.append(decision)
    return current, decisions
