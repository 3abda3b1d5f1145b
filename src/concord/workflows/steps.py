"""How a step is declared: one Pydantic input, one Pydantic result, idempotent on a business key.

Transient trouble (a timeout, a 5xx after the connector's own retries, an open circuit, a spent quota) is raised
as `RetryLater`, which the journal retries with backoff; anything a system *refuses* is returned in the result as a
`Rejection`, never raised, because the workflow turns it into an exception task. Exceptions raised by steps
are pickled into the workflow journal, so `RetryLater` carries a single string: vendor errors with richer
constructors do not survive unpickling.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import ConnectorError, DataRejected, QuotaExhausted, RetryableError
from concord.connectors.runtime.breaker import CircuitOpen
from concord.connectors.runtime.writes import UnverifiableWrite
from concord.observability.logs import log_context
from concord.workflows import journal

P = ParamSpec("P")
R = TypeVar("R")

STEP_ATTEMPTS = 5


class RetryLater(Exception):
    """A transient failure: the same step with the same input may succeed later."""


class Rejection(BaseModel):
    """A system refused the data: what it said and which fields it named."""

    model_config = ConfigDict(frozen=True)

    system: str
    message: str
    fields: list[str] = Field(default_factory=list)
    code: str | None = None


def _retry_later(error: BaseException) -> bool:
    return isinstance(error, RetryLater)


def durable_step(name: str, attempts: int = STEP_ATTEMPTS, interval_s: float = 0.5) -> Callable[
        [Callable[P, R]], Callable[P, R]]:
    """A durable step retried on `RetryLater` only (exponential backoff from `interval_s`); every log line and
    connector metric inside it carries the run's tenant, customer and correlation id."""
    step = journal.step(name, attempts=attempts, interval_s=interval_s, backoff=2.0, retry_on=_retry_later)

    def declare(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def logged(*args: P.args, **kwargs: P.kwargs) -> R:
            with log_context(step=name, **run_identity([*args, *kwargs.values()])):
                return fn(*args, **kwargs)

        return step(logged)

    return declare


def run_identity(inputs: list[object]) -> dict[str, str | None]:
    """Tenant, customer and correlation id of the run a step input belongs to: the input is the run
    (`RunContext`), holds it (`.run`), or names a tenant itself. Found by shape: runs.py imports this module."""
    for value in inputs:
        run = value if hasattr(value, "workflow_id") else getattr(value, "run", None)
        run_tenant = getattr(run, "tenant", None)
        if isinstance(run_tenant, str):
            return {"tenant": run_tenant, "customer": getattr(run, "customer_id", None),
                    "correlation_id": getattr(run, "correlation_id", None)}
        tenant = getattr(value, "tenant", None)
        if isinstance(tenant, str):
            return {"tenant": tenant}
    return {}


@contextmanager
def connector_call() -> Iterator[None]:
    """Translate the connector contract's transient errors into `RetryLater` (refusals pass through)."""
    try:
        yield
    except (CircuitOpen, QuotaExhausted) as error:
        raise RetryLater(str(error)) from None
    except UnverifiableWrite:
        raise  # retrying could duplicate: it is a rejection for a person to look at
    except RetryableError as error:
        raise RetryLater(str(error)) from None


def rejection_of(error: ConnectorError) -> Rejection:
    if isinstance(error, DataRejected):
        return Rejection(system=error.system, message=error.message, fields=[error.field] if error.field else [],
                         code=error.code)
    return Rejection(system=error.system, message=error.message, code=type(error).__name__)
