"""How a step is declared: one Pydantic input, one Pydantic result, idempotent on a business key.

Transient trouble (a timeout, a 5xx after the connector's own retries, an open circuit, a spent quota) is raised
as `RetryLater`, which DBOS retries with backoff; anything a system *refuses* is returned in the result as a
`Rejection`, never raised, because the workflow turns it into an exception task. Exceptions raised by steps
are pickled into the system database, so `RetryLater` carries a single string: vendor errors with richer
constructors do not survive unpickling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from dbos import DBOS
from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import ConnectorError, DataRejected, QuotaExhausted, RetryableError
from concord.connectors.runtime.breaker import CircuitOpen
from concord.connectors.runtime.writes import UnverifiableWrite

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
    """A DBOS step retried on `RetryLater` only (exponential backoff from `interval_s`)."""
    return DBOS.step(name=name, retries_allowed=True, max_attempts=attempts, interval_seconds=interval_s,
                     backoff_rate=2.0, should_retry=_retry_later)


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
