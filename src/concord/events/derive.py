"""Which lifecycle events a golden-record change implies (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from concord.canonical.fields import JsonValue

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
                "contract": "Contract", "subscription": "Subscription", "entitlement": "Entitlement"}


@dataclass(frozen=True)
class DerivedEvent:
    type: str
    data: dict[str, Any]


def _matches(expected: JsonValue, actual: JsonValue) -> bool:
    return expected is None or expected == actual


def derive_events(entity: str, canonical_id: str, created: bool, applied: dict[str, JsonValue],
                  previous: dict[str, JsonValue], source: str) -> list[DerivedEvent]:
    """One Created/Updated event per change that altered the record, plus one per lifecycle milestone."""
    if not applied:
        return []
    changes = {path: {"before": previous.get(path), "after": value} for path, value in applied.items()}
    base = {"entity": entity, "canonical_id": canonical_id, "source_system": source}
    noun = _ENTITY_NOUN[entity]
    events = [DerivedEvent(f"{noun}{'Created' if created else 'Updated'}", {**base, "changes": changes})]
    for (ent, path, before, after), event_type in zip(_FIELD_EVENTS, _FIELD_EVENT_TYPES, strict=True):
        hit = path in applied and _matches(before, previous.get(path)) and _matches(after, applied[path])
        if ent == entity and hit:
            events.append(DerivedEvent(event_type, {**base, "field": path, "before": previous.get(path),
                                                    "after": applied[path]}))
    return events
