"""What the journal stores, as callers see it, and the errors a run can meet.

Values (run inputs and outputs, step results, messages) are pickled: they are Concord's own Pydantic models and
exceptions, written and read by the same code base, in the workflow system database nobody else writes to.
An exception that does not survive a round trip (vendor errors with unusual constructors) is stored as a
`RecordedError` carrying its type and message, so a replay still raises — never returns — at that step.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from typing import Any

from concord.workflows.journal.store import EXHAUSTED, PENDING, RunRow


class StepRetriesExhausted(Exception):
    """A step kept failing with a retryable error until its attempts ran out; `errors` are the failures."""

    def __init__(self, step: str, attempts: int, errors: list[BaseException]) -> None:
        super().__init__(f"step {step} failed {attempts} times; last: {errors[-1] if errors else '?'}")
        self.step = step
        self.attempts = attempts
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepRetriesExhausted, (self.step, self.attempts, self.errors))


class RecordedError(Exception):
    """A step or run error whose original exception could not be pickled or unpickled."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (RecordedError, (self.kind, self.message))


class JournalMismatch(RuntimeError):
    """A resumed run called a different step than its journal records at that position: the workflow's code
    changed under a running run (or is not deterministic). The run fails rather than guess."""


class RunAbandoned(RuntimeError):
    """The awaited run was given up after too many recoveries (it stops its process every time)."""


class EngineStopped(BaseException):
    """The engine is stopping: the run stops where it is, unrecorded, and is recovered at the next launch."""


def dump(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def load(data: bytes | None) -> Any:
    return None if data is None else pickle.loads(data)


def dump_error(error: BaseException) -> bytes:
    try:
        data = dump(error)
        pickle.loads(data)
        return data
    except Exception:
        return dump(RecordedError(type(error).__name__, str(error)))


def load_error(data: bytes) -> BaseException:
    try:
        error = pickle.loads(data)
    except Exception as exc:
        return RecordedError("unreadable", repr(exc))
    return error if isinstance(error, BaseException) else RecordedError("unreadable", repr(error))


@dataclass(frozen=True)
class StepRecord:
    """One journal row of a run, for tests, the API and operators."""

    seq: int
    name: str
    failed: bool
    at: float


class RunStatus:
    """A run as stored: status, name, parent and lazily unpickled input, output and error."""

    def __init__(self, row: RunRow) -> None:
        self._row = row
        self.workflow_id = row.workflow_id
        self.name = row.name
        self.status = row.status
        self.parent_workflow_id = row.parent_id
        self.executor_id = row.executor_id
        self.recovery_attempts = row.recovery_attempts
        self.created_at = row.created_at
        self.updated_at = row.updated_at

    @functools.cached_property
    def input(self) -> Any:
        return load(self._row.input)

    @functools.cached_property
    def output(self) -> Any:
        return load(self._row.output)

    @functools.cached_property
    def error(self) -> BaseException | None:
        return None if self._row.error is None else load_error(self._row.error)

    @property
    def finished(self) -> bool:
        return self.status != PENDING

    def outcome(self) -> Any:
        """The output of a finished run; its error raised; `RunAbandoned` for one given up on."""
        if self.status == EXHAUSTED:
            raise RunAbandoned(f"run {self.workflow_id} was given up after {self.recovery_attempts} recoveries")
        if self.error is not None:
            raise self.error
        return self.output

    def __repr__(self) -> str:
        return f"RunStatus({self.workflow_id!r}, {self.name!r}, {self.status})"
