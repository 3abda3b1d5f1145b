"""Inbound change capture: poll a connector's incremental cursor and ingest what changed, durably.

The cursor is saved only after the page's changes were acknowledged by ingest, so a crash re-reads the page
and the idempotency keys turn the re-read into replays.

Same-second changes (decision 079). A system that stamps changes coarsely (Stripe and Zendesk to the second,
per `Capabilities.change_time_resolution_s`) gives two changes of one record in one second the same
`modified_at`. Two things keep the later one from being lost:

- the key: `system:object:id:modified_at:token`, the token being the record's `version` (Stripe: the event
  id) or, from a coarse system that gives none, a digest of the record's content: distinct changes never
  share a key, and re-reading the same change yields the same key;
- the order: a change stamped within the resolution window of the newest source time capture assigned to
  the record (its mark) is placed one microsecond after that mark, still inside the vendor's window, so the
  ownership gate ranks it after the earlier one. Marks are saved with the cursor in one transaction: a page
  re-read after a crash is placed against the same marks, so it yields exactly the same changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from concord.canonical.golden import ts_to_us, us_to_ts
from concord.connectors.base import Connector, ExternalRecord
from concord.delivery.store import DeliveryStore
from concord.ingest.models import ChangeCreate, ChangeError
from concord.ingest.service import IngestService

_FINEST_US = 1  # what a datetime carries: a window this small never moves a change


@dataclass
class CaptureReport:
    records: int = 0
    applied: int = 0
    replayed: int = 0
    refused: int = 0
    pages: int = 0


def content_token(fields: dict[str, Any]) -> str:
    """A short digest of a record's content: what tells two same-stamp changes apart when the system says
    nothing else (the same content twice is the same change, so the same key is right)."""
    raw = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.sha256(raw).hexdigest()[:16]


def change_token(record: ExternalRecord, resolution_s: float) -> str | None:
    if record.version:
        return record.version
    # A fine clock already separates changes; keep its keys as they were (no token).
    return content_token(record.fields) if round(resolution_s * 1_000_000) > _FINEST_US else None


def placed(stamp_us: int, mark_us: int | None, window_us: int) -> int:
    """The source time for a change the system stamped `stamp_us`, given the newest time already assigned to
    the record: one µs after it when both fall in the stamp's resolution window (the vendor could not order
    them; capture saw this one later), otherwise the stamp itself (an older stamp stays older: the gate
    judges it stale). Never leaves the window, so provenance stays within the vendor's second."""
    if mark_us is None or mark_us < stamp_us or mark_us >= stamp_us + window_us:
        return stamp_us
    return min(mark_us + 1, stamp_us + window_us - 1)


def to_change(tenant: str, system: str, entity: str, record: ExternalRecord, token: str | None = None,
              source_ts: datetime | None = None) -> ChangeCreate:
    """`token` defaults to the record's version; `source_ts` (capture's placement) to its stamp."""
    stamp = record.modified_at or datetime.now(UTC)
    token = token or record.version
    key = f"{system}:{record.object}:{record.id}:{stamp.isoformat()}" + (f":{token}" if token else "")
    return ChangeCreate(tenant=tenant, system=system, entity=entity, external_id=record.id,
                        fields=record.fields, source_ts=source_ts or stamp, idempotency_key=key)


@dataclass
class ChangeCapture:
    store: DeliveryStore
    ingest: IngestService
    tenant: str = "default"

    def start_from_now(self, system: str, connector: Connector, obj: str, max_pages: int = 1000) -> int:
        """Move the cursor past everything the system holds today without ingesting it: capture then sees only
        new changes. (Loading what exists is the explicit backfill, not a side effect of starting capture.)"""
        cursor = self.store.cursor(self.tenant, system, obj)
        skipped = 0
        for _ in range(max_pages):
            page = connector.changes_since(obj, cursor)
            skipped += len(page.records)
            cursor = page.cursor or cursor
            if not page.has_more:
                break
        self.store.save_cursor(self.tenant, system, obj, cursor)
        return skipped

    def changes(self, system: str, connector: Connector, obj: str, entity: str, records: list[ExternalRecord],
                as_system: str | None = None) -> tuple[list[ChangeCreate], dict[str, int]]:
        """The page's changes, placed after the records' marks (in page order: a page is oldest first), and
        the marks to save with the cursor. Marks and cursor are `system`'s (the endpoint read); the changes are
        `as_system`'s when given (the mapping and bindings a feed's records belong to)."""
        resolution = connector.capabilities.change_time_resolution_s
        window_us = max(round(resolution * 1_000_000), _FINEST_US)
        marks = self.store.capture_marks(self.tenant, system, obj, [r.id for r in records])
        changes: list[ChangeCreate] = []
        for record in records:
            stamp = record.modified_at or datetime.now(UTC)
            source_us = placed(ts_to_us(stamp), marks.get(record.id), window_us)
            marks[record.id] = max(source_us, marks.get(record.id, source_us))
            dated = record.model_copy(update={"modified_at": stamp})
            changes.append(to_change(self.tenant, as_system or system, entity, dated,
                                     change_token(record, resolution), us_to_ts(source_us)))
        return changes, {r.id: marks[r.id] for r in records}

    def poll(self, system: str, connector: Connector, obj: str, entity: str, max_pages: int = 100,
             as_system: str | None = None) -> CaptureReport:
        report = CaptureReport()
        cursor = self.store.cursor(self.tenant, system, obj)
        for _ in range(max_pages):
            page = connector.changes_since(obj, cursor)
            report.pages += 1
            live = [r for r in page.records if not r.deleted]
            marks: dict[str, int] = {}
            if live:
                changes, marks = self.changes(system, connector, obj, entity, live, as_system)
                for outcome in self.ingest.ingest(changes):
                    if isinstance(outcome, ChangeError):
                        report.refused += 1
                    elif outcome.replayed:
                        report.replayed += 1
                    else:
                        report.applied += 1
            report.records += len(page.records)
            cursor = page.cursor or cursor
            self.store.save_cursor(self.tenant, system, obj, cursor, marks)
            if not page.has_more:
                break
        return report
