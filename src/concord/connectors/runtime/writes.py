"""Exactly-once creates over at-least-once transport.

The effect happens once because (1) every attempt of one logical write reuses one idempotency key, (2) an
external-id upsert is used whenever the system offers it, since it is idempotent by nature, and (3) after any
failure that may have hidden a success (a lost response, a timeout, a 5xx after the body was sent) the next
attempt first looks the record up by its business key and returns it if the earlier attempt took effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from concord.connectors.base import (
    Conflict,
    Connector,
    ConnectorError,
    ExternalRecord,
    RateLimited,
    RetryableError,
)
from concord.connectors.runtime.breaker import CircuitOpen
from concord.connectors.runtime.retry import Retrier

Lookup = Callable[[str, Mapping[str, Any]], ExternalRecord | None]
Runner = Callable[[Callable[[], ExternalRecord]], ExternalRecord]


class UnverifiableWrite(ConnectorError):
    """A create may or may not have happened and nothing can tell: no business key, no idempotency support.

    Not retryable: retrying could duplicate the record. It needs reconciliation (or a human).
    """


class WriteOutcome(BaseModel):
    record: ExternalRecord
    attempts: int
    via: Literal["create", "upsert", "lookup"]


def search_lookup(connector: Connector) -> Lookup:
    """Look a record up with the connector's own `search`; two matches is a conflict, not a guess."""

    def lookup(obj: str, business_key: Mapping[str, Any]) -> ExternalRecord | None:
        found = connector.search(obj, dict(business_key), limit=2)
        if len(found) > 1:
            keys = sorted(business_key)
            raise Conflict(connector.name, f"{len(found)} {obj} records match business key {keys}")
        return found[0] if found else None

    return lookup


def _may_have_applied(error: RetryableError) -> bool:
    # A 429 was refused before processing and an open circuit never sent the call.
    return not isinstance(error, RateLimited | CircuitOpen)


class _CreateAttempts:
    """One logical create; called once per attempt by the runner (a Retrier or a ResilientCaller)."""

    def __init__(
        self,
        writer: ExactlyOnceWriter,
        obj: str,
        fields: Mapping[str, Any],
        idempotency_key: str,
        business_key: Mapping[str, Any] | None,
    ) -> None:
        self.writer = writer
        self.obj = obj
        self.fields = dict(fields)
        self.idempotency_key = idempotency_key
        self.business_key = business_key
        self.attempts = 0
        self.suspect = False
        self.via: Literal["create", "lookup"] = "create"

    def __call__(self) -> ExternalRecord:
        self.attempts += 1
        if self.suspect and self.business_key is not None:
            existing = self.writer.lookup(self.obj, self.business_key)
            if existing is not None:
                self.via = "lookup"
                return existing
        connector = self.writer.connector
        try:
            return connector.create(self.obj, self.fields, self.idempotency_key)
        except Conflict:
            # A uniqueness rule fired: most likely our own earlier attempt, so find it.
            existing = None if self.business_key is None else self.writer.lookup(self.obj, self.business_key)
            if existing is None:
                raise
            self.via = "lookup"
            return existing
        except RetryableError as error:
            if _may_have_applied(error):
                self.suspect = True
                if not self._verifiable():
                    message = f"{self.obj} create outcome unknown: {error.message}"
                    raise UnverifiableWrite(connector.name, message) from error
            raise

    def _verifiable(self) -> bool:
        server_dedups = self.writer.connector.capabilities.idempotency_header is not None
        return self.business_key is not None or server_dedups


class ExactlyOnceWriter:
    """Creates records through a `Connector` so that retries and lost responses never duplicate them."""

    def __init__(
        self, connector: Connector, runner: Runner | None = None, lookup: Lookup | None = None
    ) -> None:
        self.connector = connector
        self._run: Runner = runner or Retrier().run
        self.lookup: Lookup = lookup or search_lookup(connector)

    def create(
        self,
        obj: str,
        fields: Mapping[str, Any],
        idempotency_key: str,
        business_key: Mapping[str, Any] | None = None,
        external_id: tuple[str, str] | None = None,
    ) -> WriteOutcome:
        """Create once. `external_id` is (field, value) for systems that upsert by external id."""
        if external_id is not None and self.connector.capabilities.upsert_by_external_id:
            return self._upsert(obj, fields, external_id)
        attempts = _CreateAttempts(self, obj, fields, idempotency_key, business_key)
        record = self._run(attempts)
        return WriteOutcome(record=record, attempts=attempts.attempts, via=attempts.via)

    def _upsert(self, obj: str, fields: Mapping[str, Any], external_id: tuple[str, str]) -> WriteOutcome:
        field, value = external_id
        count = 0

        def attempt() -> ExternalRecord:
            nonlocal count
            count += 1
            return self.connector.upsert(obj, field, value, dict(fields))

        record = self._run(attempt)
        return WriteOutcome(record=record, attempts=count, via="upsert")
