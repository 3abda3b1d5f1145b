"""Which lifecycle events a golden-record change implies (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from concord.canonical.fields import JsonValue
from concord.frozen import rebuild

# (field, before, after) patterns → event type; None matches any value.
_FIELD_EVENTS: list[tuple[str, str, JsonValue, JsonValue]] = [
    ("account", "lifecycle_state", None, "credit_hold"),
    ("account", "lifecycle_state", "credit_hold", "active"),
    ("account", "lifecycle_state", None, "suspended"),
    ("account", "lifecycle_state", None, "closed"),
    ("account", "credit_status", None, None),
    ("billing_account", "status", None, "approved"),
    ("contract", "status", None, "activated"),
]
_FIELD_EVENT_TYPES = ["CreditHoldApplied", "CreditHoldReleased", "AccountSuspended", "AccountClosed",
                      "CreditStatusChanged", "BillingAccountApproved", "ContractActivated"]

_ENTITY_NOUN = {"account": "Customer", "contact": "Contact", "billing_account": "BillingAccount",
                "contract": "Contract", "subscription": "Subscription", "entitlement": "Entitlement",
                "invoice": "Invoice"}


@dataclass(frozen=True)
class DerivedEvent:
    type: str
    data: dict[str, Any]

    def __init__(self, type: str, data: dict[str, Any]) -> None:
        object.__setattr__(self, "type", type)  # written out: decision 091
        object.__setattr__(self, "data", data)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return rebuild(self)


def _matches(expected: JsonValue, actual: JsonValue) -> bool:
    return expected is None or expected == actual


def _amount(value: JsonValue) -> float | None:
    return None if value is None else float(str(value))


def _journey_events(entity: str, applied: dict[str, JsonValue], previous: dict[str, JsonValue],
                    base: dict[str, Any], bound: list[str]) -> list[DerivedEvent]:
    """Milestones that compare values: onboarding finished, a subscription's amount went up or down."""
    events = []
    if entity == "account" and previous.get("lifecycle_state") == "onboarding" and \
            applied.get("lifecycle_state") == "active":
        events.append(DerivedEvent("CustomerOnboarded", {**base, "systems": bound or [base["source_system"]]}))
    if entity == "subscription" and "monthly_amount" in applied:
        before, after = _amount(previous.get("monthly_amount")), _amount(applied["monthly_amount"])
        if before is not None and after is not None and before != after:
            plan = {"plan_before": previous.get("plan", applied.get("plan")), "plan_after": applied.get("plan"),
                    "mrr_before": before, "mrr_after": after}
            events.append(DerivedEvent("SubscriptionUpgraded" if after > before else "SubscriptionDowngraded",
                                       {**base, **plan}))
    return events + _invoice_events(entity, applied, previous, base)


def _invoice_events(entity: str, applied: dict[str, JsonValue], previous: dict[str, JsonValue],
                    base: dict[str, Any]) -> list[DerivedEvent]:
    """InvoicePosted the first time an invoice has a live status (once per invoice: a status is never unset,
    and a repeated report applies nothing). Later changes are InvoiceUpdated, the record event."""
    if entity != "invoice" or "status" not in applied or previous.get("status") is not None:
        return []
    if applied["status"] in (None, "void"):
        return []  # a voided invoice nobody saw open never was a receivable
    amount = applied.get("amount_total", previous.get("amount_total"))
    return [DerivedEvent("InvoicePosted", {
        **base, "invoice": str(applied.get("number") or previous.get("number") or base["canonical_id"]),
        "amount": None if amount is None else str(amount),
        "currency": applied.get("currency", previous.get("currency"))})]


def derive_events(entity: str, canonical_id: str, created: bool, applied: dict[str, JsonValue],
                  previous: dict[str, JsonValue], source: str, bound: list[str] | None = None) -> list[DerivedEvent]:
    """One Created/Updated event per change that altered the record, plus one per lifecycle milestone.
    `bound` names the systems the record is bound in (CustomerOnboarded reports them)."""
    if not applied:
        return []
    changes = {path: {"before": previous.get(path), "after": value} for path, value in applied.items()}
    base = {"entity": entity, "canonical_id": canonical_id, "source_system": source}
    noun = _ENTITY_NOUN[entity]
    events = [DerivedEvent(f"{noun}{'Created' if created else 'Updated'}", {**base, "changes": changes})]
    for (ent, path, before, after), event_type in zip(_FIELD_EVENTS, _FIELD_EVENT_TYPES, strict=True):
        if ent == entity and path in applied and _matches(before, previous.get(path)) \
                and _matches(after, applied[path]):
            events.append(DerivedEvent(event_type, {**base, "field": path, "before": previous.get(path),
                                                    "after": applied[path]}))
    return events + _journey_events(entity, applied, previous, base, sorted(bound or []))
