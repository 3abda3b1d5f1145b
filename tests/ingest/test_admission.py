"""Admission control of the ingest queue (ingest/admission.py, decision 086): outside callers are refused with
nothing queued while the writer is too far behind; Concord's own submissions never are."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from concord.hubconfig import Runtime
from concord.ingest.admission import MAX_RETRY_AFTER_S, IngestOverloaded, WaitingCount
from concord.ingest.models import ChangePublic
from concord.ingest.service import IngestService
from concord.storage import tables as t
from tests.factories import change


def test_an_empty_queue_admits_any_request_and_a_full_one_refuses() -> None:
    count = WaitingCount(limit=10)
    count.admit(50)  # alone in the queue: never refused, however large
    count.queued(8)
    count.admit(2)
    with pytest.raises(IngestOverloaded) as refused:
        count.admit(3)
    assert (refused.value.waiting, refused.value.limit, count.refused) == (8, 10, 3)
    count.taken(8)
    count.admit(3)
    assert count.waiting == 0


def test_taking_more_than_was_counted_never_goes_below_zero() -> None:
    count = WaitingCount(limit=5)
    count.queued(2)
    count.taken(7)
    assert count.waiting == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WaitingCount(limit=0)


def test_retry_after_is_the_backlog_over_the_commit_rate_within_bounds() -> None:
    count = WaitingCount(limit=100)
    count.queued(400)
    assert count.retry_after_s(10) == 1  # no rate measured yet
    count.committed(50, now=10.0)
    count.committed(50, now=10.5)  # 100 changes/s
    assert count.retry_after_s(10) == 4  # 310 must be committed before 10 more fit: 3.1 s
    assert count.retry_after_s(1000) == 4  # more than the limit alone: waits for the queue to empty (400)
    count.queued(100_000)
    assert count.retry_after_s(10) == MAX_RETRY_AFTER_S
    count.taken(100_400)
    assert count.retry_after_s(1) == 1


def test_the_rate_is_smoothed_over_batches() -> None:
    count = WaitingCount(limit=10)
    count.queued(1010)
    count.committed(100, now=0.0)
    count.committed(100, now=1.0)  # 100/s
    count.committed(100, now=1.01)  # one burst at 10,000/s moves the estimate, does not replace it
    assert count.retry_after_s(10) == 1  # 1,010 over (0.8 * 100 + 0.2 * 10,000 = 2,080/s)
    count.committed(1, now=11.01)  # a stall: 0.1/s weighs in
    assert count.retry_after_s(10) == 1  # 1,010 / (0.8 * 2,080 + 0.02) ≈ 0.6 s


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
