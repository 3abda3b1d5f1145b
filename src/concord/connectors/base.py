"""The connector contract: a small typed protocol, capabilities declared as data, and typed errors.

The core reads `Capabilities`; it never branches on a vendor's name. Every connector package has the same
four modules (config, auth, client, resources) and passes the shared conformance suite in tests/conformance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """A documented vendor limit: `requests` per `per_seconds`, optionally a rolling daily quota."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)
    daily_quota: int | None = None


class Capabilities(BaseModel):
    """What a system can do, as data. Runtime and router decisions read these, never a vendor name."""

    model_config = ConfigDict(frozen=True)

    objects: tuple[str, ...]
    bulk_batch_size: int = Field(default=1, ge=1)
    upsert_by_external_id: bool = False
    idempotency_header: str | None = None
    webhooks: bool = False
    cursor_field: str | None = None
    rate_limit: RateLimit | None = None
    # How finely the system stamps a change (`ExternalRecord.modified_at`), in seconds: two changes of one
    # record within one such window carry the same stamp, so capture orders them itself (decision 079).
    change_time_resolution_s: float = Field(default=0.000001, gt=0)


class ExternalRecord(BaseModel):
    """One record as the external system holds it, in the system's own field names."""

    object: str
    id: str
    fields: dict[str, Any]
    modified_at: datetime | None = None
    deleted: bool = False
    # What tells this change apart from any other change of the record (e.g. the event id that reported it);
    # None when the system gives nothing finer than `modified_at`.
    version: str | None = None


class ChangePage(BaseModel):
    """One page of incremental change capture; `cursor` resumes after the last record of this page."""

    records: list[ExternalRecord]
    cursor: str | None
    has_more: bool = False


@runtime_checkable
class Connector(Protocol):
    """search / read / create / update / upsert plus incremental change capture."""

    name: str
    capabilities: Capabilities

    def search(self, obj: str, criteria: dict[str, Any], limit: int = 100) -> list[ExternalRecord]: ...

    def read(self, obj: str, record_id: str) -> ExternalRecord | None: ...

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord: ...

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord: ...

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord: ...

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage: ...

    def close(self) -> None: ...


class ConnectorError(Exception):
    """Base of every connector failure. `system` names the external system; never carries secrets."""

    retryable = False

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
        self.message = message


class RetryableError(ConnectorError):
    """A transient failure (5xx, timeout, connection reset): the same call may succeed later."""

    retryable = True

    def __init__(self, system: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(system, message)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """The vendor said 429 (or its quota equivalent); `retry_after` in seconds when it told us."""


class QuotaExhausted(ConnectorError):
    """The daily quota is spent: pause until `resume_at` rather than retrying."""

    def __init__(self, system: str, message: str, resume_at: datetime | None = None) -> None:
        super().__init__(system, message)
        self.resume_at = resume_at


class AmbiguousWrite(RetryableError):
    """A write whose outcome is unknown (response lost after sending): read before creating again."""


class AuthError(ConnectorError):
    """Credentials refused; a refresh may help once, then it needs a human."""


class NotFound(ConnectorError):
    """The record does not exist in the external system."""


class Conflict(ConnectorError):
    """The system refused the write because of a concurrent change or a uniqueness rule."""


class DataRejected(ConnectorError):
    """The system refused the data itself; `field` names the offending field when the system said so."""

    def __init__(self, system: str, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(system, message)
        self.field = field
        self.code = code
