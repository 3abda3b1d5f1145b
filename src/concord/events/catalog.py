"""The lifecycle event catalogue: one pydantic model per (event type, schema version), and the upcasters.

Readers of an older version must be able to read a newer one, so the data models ignore fields they do not
know (`extra="ignore"`); publishing validates against the declared version with `extra="forbid"` instead (see
`registry.SchemaRegistry.validate`), so a producer cannot smuggle unknown fields into the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from concord.canonical.fields import JsonValue

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: str = Field(min_length=1)
    canonical_id: str = Field(min_length=1)
    source_system: str = Field(min_length=1)


class FieldChange(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    before: JsonValue = None
    after: JsonValue = None


class RecordChangedV1(EventData):
    """A golden record was created or changed: every applied field with its value before and after."""

    changes: dict[str, FieldChange] = Field(min_length=1)


class RecordChangedV2(RecordChangedV1):
    """v2 adds `changed_fields` (sorted paths) so routers can match on changed fields without reading changes."""

    changed_fields: list[str] = Field(min_length=1)


class MilestoneV1(EventData):
    """One lifecycle field crossed a milestone (credit hold, approval, activation, …)."""

    field: str = Field(min_length=1)
    before: JsonValue = None
    after: JsonValue = None


class CustomerOnboardedV1(EventData):
    systems: list[str] = Field(min_length=1, description="systems the customer is now bound in")


class PlanChangeV1(EventData):
    plan_before: str | None = None
    plan_after: str | None = None
    mrr_before: float | None = None
    mrr_after: float | None = None


class DuplicateDetectedV1(EventData):
    duplicate_of: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)
    rule: str = Field(min_length=1)


class CustomersMergedV1(EventData):
    """Two golden records are one customer now: `canonical_id` survives, `absorbed_id` is gone; `merge_id`
    undoes it (`concord unmerge`)."""

    absorbed_id: str = Field(min_length=1)
    merge_id: str = Field(min_length=1)
    actor: str = Field(min_length=1)
    systems: list[str] = Field(default_factory=list, description="systems whose bindings moved to the survivor")


class CustomersUnmergedV1(EventData):
    """A merge was undone: `canonical_id` and `absorbed_id` are two customers again, as before `merge_id`."""

    absorbed_id: str = Field(min_length=1)
    merge_id: str = Field(min_length=1)
    actor: str = Field(min_length=1)


class SyncFailedV1(EventData):
    target_system: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    error: str
    attempts: int = Field(ge=1)


class InvoicePostedV1(EventData):
    """A customer invoice was posted in ERP or finalised in billing (starts sync-billing-status)."""

    invoice: str = Field(min_length=1, description="the invoice number or id in `source_system`")
    amount: str | None = Field(default=None, description="decimal string, major currency units")
    currency: str | None = None


def changed_fields_v1_to_v2(data: Data) -> Data:
    return {**data, "changed_fields": sorted(data.get("changes", {}))}


_RECORD_NOUNS = ["Customer", "Contact", "BillingAccount", "Contract", "Subscription", "Entitlement", "Invoice"]
_MILESTONES = ["CreditHoldApplied", "CreditHoldReleased", "CreditStatusChanged", "AccountSuspended",
               "AccountClosed", "BillingAccountApproved", "ContractActivated"]


def catalogue() -> dict[str, list[type[BaseModel]]]:
    """Event type → its data models, oldest version first (index 0 is version 1)."""
    types: dict[str, list[type[BaseModel]]] = {}
    for noun in _RECORD_NOUNS:
        for verb in ("Created", "Updated"):
            types[f"{noun}{verb}"] = [RecordChangedV1, RecordChangedV2]
    for name in _MILESTONES:
        types[name] = [MilestoneV1]
    types["CustomerOnboarded"] = [CustomerOnboardedV1]
    types["SubscriptionUpgraded"] = [PlanChangeV1]
    types["SubscriptionDowngraded"] = [PlanChangeV1]
    types["DuplicateDetected"] = [DuplicateDetectedV1]
    types["SyncFailed"] = [SyncFailedV1]
    types["InvoicePosted"] = [InvoicePostedV1]
    types["CustomersMerged"] = [CustomersMergedV1]
    types["CustomersUnmerged"] = [CustomersUnmergedV1]
    return types


def upcasters() -> dict[tuple[str, int], Upcaster]:
    """(type, from_version) → function turning that version's data into the next version's."""
    return {(f"{noun}{verb}", 1): changed_fields_v1_to_v2 for noun in _RECORD_NOUNS for verb in ("Created", "Updated")}
