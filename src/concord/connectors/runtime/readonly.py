"""The write half of a read-only feed (invoices posted in ERP, issued by billing): a feed serves one object and
refuses every write with a typed rejection, so the outbound path dead-letters a misrouted command instead of
retrying it. Feeds set the three class attributes and implement search/read/changes_since themselves."""

from __future__ import annotations

from typing import Any, ClassVar

from concord.connectors.base import Connector, DataRejected, ExternalRecord


class ReadOnlyFeed:
    name: str  # the system, as the Connector protocol names it (an attribute there, so no ClassVar)
    object_name: ClassVar[str]
    read_only_reason: ClassVar[str]  # why Concord never writes this object, for the rejection
    # the connector the feed reads through, when it was built for the feed alone (a connections file's
    # `tryton_invoices`/`stripe_invoices` entry): then closing the feed closes it; a lent one is left open
    owner: Connector | None = None

    def create(self, obj: str, fields: dict[str, Any], idempotency_key: str) -> ExternalRecord:
        raise self._read_only(obj)

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> ExternalRecord:
        raise self._read_only(obj)

    def upsert(self, obj: str, external_id_field: str, external_id: str, fields: dict[str, Any]) -> ExternalRecord:
        raise self._read_only(obj)

    def close(self) -> None:
        if self.owner is not None:
            self.owner.close()

    def _check(self, obj: str) -> None:
        if obj != self.object_name:
            raise DataRejected(self.name, f"object {obj!r} is not supported (only {self.object_name!r})",
                               code="unknown_object")

    def _read_only(self, obj: str) -> DataRejected:
        self._check(obj)
        return DataRejected(self.name, self.read_only_reason, code="unsupported_operation")
