"""The change ingest contract: what a system submits (`ChangeCreate`) and what Concord answers (`ChangePublic`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ChangeCreate(BaseModel):
    """One record as a system saw it at `source_ts`; `fields` are in the system's own names (per its mapping)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    system: str = Field(min_length=1, max_length=32)
    entity: str = Field(min_length=1, max_length=32, description="canonical entity, e.g. account")
    external_id: str = Field(min_length=1, max_length=255, description="the record's id in `system`")
    fields: dict[str, Any]
    source_ts: AwareDatetime = Field(description="when the source system changed the record (with time zone)")
    idempotency_key: str = Field(min_length=1, max_length=255)
    correlation_id: str | None = Field(default=None, max_length=128)
    canonical_id: str | None = Field(default=None, max_length=64,
                                     description="the Concord id when the source already knows it")


class ChangeStatus(StrEnum):
    APPLIED = "applied"  # at least one field changed the golden record
    PARTIAL = "partial"  # applied, but some fields were rejected or await approval
    NO_OP = "no_op"  # durable and recorded, but nothing changed (stale, echo, unchanged)
    REJECTED = "rejected"  # every field was refused by the ownership gate
    PENDING = "pending"  # nothing applied; steward approval awaited
    HELD = "held"  # maybe an existing customer: held, unbound, until a steward links or splits (review_id)


class FieldIssue(BaseModel):
    field: str
    reason: str


class ChangePublic(BaseModel):
    change_id: str
    canonical_id: str
    status: ChangeStatus
    created: bool = Field(description="the change created the golden record")
    applied: list[str]
    rejected: list[FieldIssue]
    pending: list[str]
    stale: list[str]
    echoes: list[str]
    mapping_version: str | None
    correlation_id: str
    outbound_commands: int
    replayed: bool = Field(default=False, description="answered from the idempotency record")
    review_id: str | None = Field(default=None, description="the match review holding this change (status held)")


class ChangeError(BaseModel):
    """Why a change could not be accepted (nothing of it was stored)."""

    status: int
    title: str
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


class ChangeQueued(BaseModel):
    """A change held durably by the bus, to be applied by the worker owning its partition."""

    status: Literal["queued"] = "queued"
    tenant: str
    idempotency_key: str
    partition: int
    stream_seq: int = Field(description="the change's sequence in the JetStream stream")


class BatchItemResult(BaseModel):
    index: int
    result: ChangePublic | ChangeQueued | None = None
    error: ChangeError | None = None
