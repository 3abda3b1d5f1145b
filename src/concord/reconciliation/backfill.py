"""Initial load: every record a system holds today goes through ingest — the normal path, so matching links
it to a customer Concord already has, holds it for a steward, or creates it — page by page.

Resumable: the connector's cursor is saved (under `backfill:<object>`) only after a page's changes were
acknowledged as durable, and each change's idempotency key is the record's id and modification time, so a run
killed at any point re-reads at most one page and those changes replay instead of applying twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from concord.connectors.base import Connector
from concord.delivery.capture import to_change
from concord.delivery.store import DeliveryStore
from concord.ingest.models import ChangeError, ChangeStatus
from concord.ingest.service import IngestService
from concord.reconciliation.drift import is_gone


@dataclass
class BackfillReport:
    pages: int = 0
    records: int = 0
    created: int = 0
    linked: int = 0  # bound to a customer that already existed
    held: int = 0  # waiting for a steward (online check: review)
    replayed: int = 0
    refused: int = 0
    skipped: int = 0  # deleted or archived in the system
    done: bool = False


def cursor_key(obj: str) -> str:
    return f"backfill:{obj}"


def backfill(service: IngestService, tenant: str, system: str, entity: str, connector: Connector, obj: str,
             max_pages: int | None = None, progress: Callable[[int], None] | None = None) -> BackfillReport:
    """Load from the saved cursor to the end (or `max_pages`); `done` once the system has no more pages."""
    store = DeliveryStore(service.engine)
    report = BackfillReport()
    cursor = store.cursor(tenant, system, cursor_key(obj))
    while max_pages is None or report.pages < max_pages:
        page = connector.changes_since(obj, cursor)
        live = [r for r in page.records if not is_gone(r)]
        report.skipped += len(page.records) - len(live)
        outcomes = service.ingest([to_change(tenant, system, entity, r) for r in live]) if live else []
        for outcome in outcomes:
            _count(report, outcome)
        report.pages += 1
        report.records += len(page.records)
        cursor = page.cursor or cursor
        store.save_cursor(tenant, system, cursor_key(obj), cursor)  # after the page is durable, never before
        if progress is not None:
            progress(len(page.records))
        if not page.has_more:
            report.done = True
            break
    return report


def _count(report: BackfillReport, outcome: object) -> None:
    if isinstance(outcome, ChangeError):
        report.refused += 1
    elif getattr(outcome, "replayed", False):
        report.replayed += 1
    elif getattr(outcome, "status", None) is ChangeStatus.HELD:
        report.held += 1
    elif getattr(outcome, "created", False):
        report.created += 1
    else:
        report.linked += 1
