"""Admission control of the ingest queue (ingest/admission.py, decision 086): outside callers are refused with
nothing queued while the writer is too far behind; Concord's own submissions never are."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, func, select

from concord.hubconfig import Runtime
from concord.ingest.admission import MAX_RETRY_AFTER_S, IngestOverloaded, WaitingCount
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.storage import tables as t
from tests.factories import change


def test_requests_are_admitted_while_the_queue_is_below_its_limit_whatever_their_size() -> None:
    count = WaitingCount(limit=10)
    count.admit(50)
    count.queued(9)
    count.admit(5000)  # below the limit: a large batch is not starved by small requests refilling the queue
    count.queued(1)
    with pytest.raises(IngestOverloaded) as refused:
        count.admit(3)
    assert (refused.value.waiting, refused.value.limit, count.refused) == (10, 10, 3)
    count.taken(1)
    count.admit(3)
    assert count.waiting == 9


def test_taking_more_than_was_counted_is_logged_as_a_defect(caplog: pytest.LogCaptureFixture) -> None:
    count = WaitingCount(limit=5)
    count.queued(2)
    with caplog.at_level(logging.WARNING, logger="concord.ingest.admission"):
        count.taken(7)
    assert count.waiting == 0
    assert "7 changes taken, 2 counted" in caplog.text


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WaitingCount(limit=0)


def test_retry_after_is_the_backlog_beyond_the_limit_over_the_commit_rate_within_bounds() -> None:
    count = WaitingCount(limit=100, window_s=0.5)
    count.queued(400)
    assert count.retry_after_s() == 1  # no rate measured yet
    count.committed(50, now=10.0)  # starts the first window
    count.committed(50, now=10.5)  # 100 changes/s
    assert count.retry_after_s() == 4  # 301 must be committed before the queue is below 100: 3.01 s
    count.queued(100_000)
    assert count.retry_after_s() == MAX_RETRY_AFTER_S
    count.taken(100_400)
    assert count.retry_after_s() == 1


def test_answers_microseconds_apart_do_not_read_as_a_huge_rate() -> None:
    count = WaitingCount(limit=100, window_s=0.5)
    count.queued(10_100)
    count.committed(500, now=0.0)
    count.committed(500, now=0.00005)  # the committer and the writer answering back to back
    assert count.retry_after_s() == 1  # still no rate: the window is not over
    count.committed(500, now=0.6)  # 1,000 changes over 0.6 s
    assert count.retry_after_s() == 7  # 10,001 / 1,667 per s = 6.0 s


def test_the_rate_is_smoothed_over_windows() -> None:
    count = WaitingCount(limit=100, window_s=0.5)
    count.queued(8300)
    count.committed(0, now=0.0)
    count.committed(1000, now=1.0)  # 1,000/s: the first rate is taken as it is
    count.committed(100, now=2.0)  # a slow window (100/s) weighs in by a fifth: 820/s
    assert count.retry_after_s() == 11  # 8,201 / 820 = 10.0 s (unsmoothed: 30; the slow window ignored: 9)


def count_changes(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.change_log)).scalar_one())


def test_the_service_refuses_outside_callers_beyond_its_limit_and_writes_nothing_of_them(
        engine: Engine, runtime: Runtime) -> None:
    service = IngestService(engine, runtime, max_waiting=3)  # the writer starts only when the test says
    try:
        internal = service.submit([change("salesforce", f"001Q{i}", {"Name": f"Queued {i}"}, key=f"q-{i}")
                                   for i in range(3)])
        more_internal = service.submit([change("salesforce", "001Q9", {"Name": "Also queued"}, key="q-9")])
        assert service.waiting.waiting == 4  # Concord's own submissions are counted, never refused
        with pytest.raises(IngestOverloaded) as refused:
            service.admit([change("salesforce", "001R", {"Name": "Refused"}, key="refused")])
        assert refused.value.waiting == 4 and service.waiting.refused == 1
        service.start()
        assert all(isinstance(o, ChangePublic) for o in internal.result(timeout=30) + more_internal.result(30))
        assert service.waiting.waiting == 0
        assert count_changes(engine) == 4  # the refused change was never queued, so never written
        admitted = service.admit([change("salesforce", "001R", {"Name": "Refused"}, key="refused")]).result(30)
        assert isinstance(admitted[0], ChangePublic) and not admitted[0].replayed  # a first attempt, not a replay
        assert count_changes(engine) == 5
    finally:
        service.stop()


def test_jobs_failed_by_a_dead_writer_leave_the_count(engine: Engine, runtime: Runtime) -> None:
    service = IngestService(engine, runtime, max_waiting=10)
    waiting = service.submit([change("salesforce", "001D", {"Name": "Doomed"})])
    assert service.waiting.waiting == 1
    service.writer_stopped(RuntimeError("writer defect"))
    with pytest.raises(RuntimeError, match="writer defect"):
        waiting.result(timeout=5)
    assert service.waiting.waiting == 0
