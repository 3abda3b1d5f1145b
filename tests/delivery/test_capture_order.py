"""Capture keys and placement of same-stamp changes (decision 079), without a vendor: a coarse in-memory system."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from concord.connectors.base import Capabilities, ChangePage, ExternalRecord
from concord.delivery.capture import ChangeCapture, change_token, placed, to_change
from concord.delivery.store import DeliveryStore
from concord.ingest.service import IngestService
from concord.storage import queries

SECOND_US = 1_000_000
T = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_placed_after_the_mark_only_within_the_window() -> None:
    stamp = 100 * SECOND_US
    assert placed(stamp, None, SECOND_US) == stamp
    assert placed(stamp, stamp - 1, SECOND_US) == stamp  # an older mark: the stamp itself
    assert placed(stamp, stamp, SECOND_US) == stamp + 1
    assert placed(stamp, stamp + 5, SECOND_US) == stamp + 6
    assert placed(stamp, stamp + SECOND_US - 1, SECOND_US) == stamp + SECOND_US - 1  # never leaves the second
    assert placed(stamp, stamp + SECOND_US, SECOND_US) == stamp  # a genuinely older change stays older
    assert placed(stamp, stamp, 1) == stamp  # a microsecond clock needs no help


def test_keys_use_the_version_or_for_a_coarse_clock_the_content() -> None:
    record = ExternalRecord(object="Account", id="a1", fields={"Name": "A"}, modified_at=T)
    assert change_token(record, 0.000001) is None
    assert to_change("default", "sf", "account", record).idempotency_key == f"sf:Account:a1:{T.isoformat()}"
    coarse = change_token(record, 1.0)
    assert coarse is not None and coarse != change_token(record.model_copy(update={"fields": {"Name": "B"}}), 1.0)
    assert coarse == change_token(record.model_copy(), 1.0)  # the same content is the same change
    versioned = record.model_copy(update={"version": "evt_1"})
    assert change_token(versioned, 1.0) == "evt_1"
    assert to_change("default", "sf", "account", versioned).idempotency_key.endswith(":evt_1")


class CoarseSystem:
    """Stamps every change with the same second and gives no version; pages of one change each."""

    name = "salesforce"

    def __init__(self) -> None:
        self.capabilities = Capabilities(objects=("Account",), change_time_resolution_s=1.0)
        self.changes: list[dict[str, Any]] = []

    def changes_since(self, obj: str, cursor: str | None) -> ChangePage:
        start = int(cursor or 0)
        window = self.changes[start:start + 1]
        records = [ExternalRecord(object=obj, id="001C", fields=dict(f), modified_at=T) for f in window]
        end = start + len(window)
        return ChangePage(records=records, cursor=str(end), has_more=end < len(self.changes))


def test_later_same_second_changes_win_in_the_order_captured(ingest: IngestService, engine: Engine) -> None:
    system = CoarseSystem()
    capture = ChangeCapture(DeliveryStore(engine), ingest)
    # Names chosen both ways round, so a value-hash tie-break cannot pass this by luck. (Without a version, the
    # content is the token: going back to an earlier content within the same second would read as a replay.)
    for name in ("Zeta", "Alpha", "Mid", "Beta"):
        system.changes.append({"Name": name})
        report = capture.poll("salesforce", system, "Account", "account")  # type: ignore[arg-type]
        assert report.refused == 0
        with engine.connect() as conn:
            cid = queries.canonical_for(conn, "default", "salesforce", "account", "001C")
            record = queries.golden_record(conn, cid) if cid else None
        assert record is not None and record.value("name") == name
