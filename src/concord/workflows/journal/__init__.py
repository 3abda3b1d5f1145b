"""Concord's durable workflow journal: the runtime under `WorkflowEngine` (decision 081).

One row per step, appended once and group-committed; a run's journal is read only when it is resumed.
"""

from concord.workflows.journal.client import JournalClient
from concord.workflows.journal.db import JournalUnavailable
from concord.workflows.journal.ops import (
    NotLaunched,
    RunHandle,
    current_workflow_id,
    list_runs,
    recv,
    result_of,
    run_status,
    run_workflow,
    send,
    start_workflow,
    step,
    steps_of,
    workflow,
)
from concord.workflows.journal.records import (
    EngineStopped,
    JournalMismatch,
    RecordedError,
    RunAbandoned,
    RunStatus,
    StepRecord,
    StepRetriesExhausted,
)
from concord.workflows.journal.runtime import Workflow

__all__ = ["EngineStopped", "JournalClient", "JournalMismatch", "JournalUnavailable", "NotLaunched",
           "RecordedError", "RunAbandoned", "RunHandle", "RunStatus", "StepRecord", "StepRetriesExhausted",
           "Workflow", "current_workflow_id", "list_runs", "recv", "result_of", "run_status", "run_workflow", "send",
           "start_workflow", "step", "steps_of", "workflow"]
