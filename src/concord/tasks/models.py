"""Exception tasks as the API, the CLI and the workflows see them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    RETRIED = "retried"
    CANCELLED = "cancelled"


class TaskKind(StrEnum):
    REJECTED = "rejected"  # a system refused the data
    MISSING_DATA = "missing_data"  # mandatory master data is absent
    DUPLICATE = "duplicate"  # the customer looks like one Concord already has
    INELIGIBLE = "ineligible"  # a policy rule refused it
    FAILED = "failed"  # a transient failure outlasted every retry
    APPROVAL = "approval"  # a governed step awaits a second person's approval (resolve approves, cancel rejects)
    RESIDENCY = "residency"  # the tenant's region has no endpoint of the system: fix the connections, then retry


class TaskCreate(BaseModel):
    """What a workflow knows when it stops: who, where, what the system said, what it may be given instead."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    customer_id: str
    workflow_id: str
    process: str
    step: str
    attempt: int = Field(ge=1)
    kind: TaskKind
    system: str
    message: str
    fields: list[str] = Field(default_factory=list)
    correctable: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str


class TaskPublic(TaskCreate):
    id: str
    status: TaskStatus
    corrections: dict[str, Any] | None = None
    decided_by: str | None = None
    created_at: float
    decided_at: float | None = None


class TaskAction(StrEnum):
    RESOLVE = "resolve"  # continue with the corrections
    RETRY = "retry"  # run the step again as it was (the cause was fixed elsewhere)
    CANCEL = "cancel"  # stop the workflow


class TaskDecision(BaseModel):
    """What a person decided; the waiting workflow reads it from the task row."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    action: TaskAction
    corrections: dict[str, Any] = Field(default_factory=dict)
    actor: str
