"""The pipelined writer (ingest/pipeline.py) on both databases: batch N+1 is worked out while batch N commits,
and nothing is lost, duplicated or acknowledged early when either of them fails."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from functools import partial

import pytest
from sqlalchemy import Engine, func, select, text

from concord.canonical.fields import JsonValue
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangeError, ChangePublic
from concord.ingest.pipeline import Committer, Ticket
from concord.ingest.processor import Outcome
from concord.ingest.service import IngestService
from concord.matching.store import DuplicateChecker
from concord.storage import queries
from concord.storage import tables as t
from concord.storage.repository import IngestRepository
from tests.factories import change

CommitFn = Callable[[], None]


@pytest.fixture
def queued(engine: Engine, runtime: Runtime) -> Iterator[IngestService]:
    """A service whose writer starts only when the test says so: changes submitted first are all queued, so
    every batch but the last finds the next one waiting (the pipeline engages deterministically)."""
    service = IngestService(engine, runtime, max_batch=4)
    yield service
    service.stop()


def count(engine: Engine, table: t.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def results(futures: list[Future[list[Outcome]]]) -> list[ChangePublic]:
    out = [o for f in futures for o in f.result(timeout=60)]
    assert all(isinstance(o, ChangePublic) for o in out), out
    return [o for o in out if isinstance(o, ChangePublic)]


def wrap_commits(monkeypatch: pytest.MonkeyPatch, wrap: Callable[[int, CommitFn], CommitFn]) -> list[int]:
    """Replace each commit handed to the committer by `wrap(n, commit)`; returns the list of n seen."""
    seen: list[int] = []
    original = Committer.start

    def start(self: Committer, commit: CommitFn, then: CommitFn) -> Ticket:
        seen.append(len(seen))
        return original(self, wrap(seen[-1], commit), then)

    monkeypatch.setattr(Committer, "start", start)
    return seen


def break_processing_on_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processing a change raises once its record is named "Broken": a bug inside one change's processing.
    Injected in the duplicate checker, which every applied change reaches after the gate and the router: the
    processor itself is compiled (decision 089), so its own functions cannot be patched from here."""
    real_updated = DuplicateChecker.updated

    def updated(self: DuplicateChecker, tenant: str, entity: str, canonical_id: str,
                values: Mapping[str, JsonValue]) -> None:
        if values.get("name") == "Broken":
            raise ValueError("a processing bug (injected)")
        real_updated(self, tenant, entity, canonical_id, values)

    monkeypatch.setattr(DuplicateChecker, "updated", updated)


def test_each_change_lands_once_and_later_batches_build_on_uncommitted_ones(queued: IngestService,
                                                                            engine: Engine) -> None:
    # 30 updates of 5 customers, 4 per batch: nearly every batch updates a record the batch before it wrote
    # and had not committed yet. A stale read would fail the version check and show up as a serial redo.
    changes = [change("salesforce", f"001{i % 5}", {"Name": f"Acme {i}", "NumberOfEmployees": i}, at=i)
               for i in range(30)]
    futures = [queued.submit([c]) for c in changes]
    queued.start()
    outcomes = results(futures)
    assert queued.overlapped >= 5 and queued.redone == 0
    assert count(engine, t.change_log) == 30 and count(engine, t.golden_records) == 5
    assert len({o.change_id for o in outcomes}) == 30
    with engine.connect() as conn:
        for c in range(5):
            cid = queries.canonical_for(conn, "default", "salesforce", "account", f"001{c}")
            record = queries.golden_record(conn, cid or "")
            assert record is not None and record.version == 6
            assert record.value("name") == f"Acme {25 + c}"  # the newest of its six updates


def test_the_writer_collects_the_young_generation_beside_each_overlapped_commit(
        queued: IngestService, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/decisions/090: one young pass per pipelined batch, made while the previous batch's commit runs —
    # not CPython's automatic lumps (turned off here by a threshold no test reaches).
    passes: list[tuple[int, bool]] = []  # generation, whether a commit was running at the time
    in_commit = threading.Event()

    def observe(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and threading.current_thread().name == "concord-ingest-writer":
            passes.append((info["generation"], in_commit.is_set()))

    def commit_slowly(n: int, commit: CommitFn) -> CommitFn:
        in_commit.set()  # from the hand-over (here, in the writer) until the commit is done
        def run() -> None:
            time.sleep(0.2)  # a slow fsync: the writer's pass, right after the hand-over, lands inside it
            commit()
            in_commit.clear()
        return run

    wrap_commits(monkeypatch, commit_slowly)
    thresholds = gc.get_threshold()
    gc.set_threshold(10**7, thresholds[1], thresholds[2])
    gc.callbacks.append(observe)
    try:
        futures = [queued.submit([change("salesforce", f"001{i % 5}", {"Name": f"Acme {i}"}, at=i)])
                   for i in range(24)]
        queued.start()
        results(futures)
    finally:
        gc.callbacks.remove(observe)
        gc.set_threshold(*thresholds)
    assert queued.overlapped >= 4
    assert len(passes) == queued.overlapped
    assert all(generation in (0, 1) and during for generation, during in passes), passes


def test_reads_and_writes_wait_for_the_previous_commit(queued: IngestService, engine: Engine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Batch 1 creates a customer with domain pipe.example; batch 2 is Zendesk's organization of that domain, whose
    # exact-key lookup happens while batch 1's (slowed) commit runs. Its read and its writes must come after that
    # commit: a write inside batch 1's transaction would be made durable by it, whatever batch 2 does next.
    committed: list[float] = []
    flushed: list[float] = []
    looked_up: list[float] = []

    def slow(_n: int, commit: CommitFn) -> CommitFn:
        def later() -> None:
            time.sleep(0.2)
            commit()
            committed.append(time.perf_counter())
        return later

    def timed(real: Callable[..., object], times: list[float], at_exit: bool) -> Callable[..., object]:
        def call(*args: object) -> object:
            if not at_exit:
                times.append(time.perf_counter())
            result = real(*args)
            if at_exit:
                times.append(time.perf_counter())
            return result
        return call

    wrap_commits(monkeypatch, slow)
    monkeypatch.setattr(IngestRepository, "write", timed(IngestRepository.write, flushed, at_exit=False))
    monkeypatch.setattr(IngestRepository, "match_keys", timed(IngestRepository.match_keys, looked_up, at_exit=True))
    queued.max_batch = 1
    crm = queued.submit([change("salesforce", "001P", {"Name": "Pipe AG", "Domain__c": "pipe.example"})])
    erp = queued.submit([change("zendesk", "77", {"name": "Pipe AG",
                                                  "organization_fields": {"primary_domain": "pipe.example"}}, at=1)])
    queued.start()
    first, second = results([crm, erp])
    assert second.canonical_id == first.canonical_id and not second.created
    assert queued.overlapped == 1 and count(engine, t.golden_records) == 1
    assert len(committed) == 1 and len(flushed) == 2 and looked_up
    assert flushed[1] > committed[0] and looked_up[-1] > committed[0]


def test_a_failed_commit_redoes_it_and_the_batch_built_on_it(queued: IngestService, engine: Engine,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(_n: int, commit: CommitFn) -> CommitFn:
        def failing() -> None:
            if not failed:  # the first commit handed over fails, without committing anything
                failed.append(True)
                raise RuntimeError("disk I/O error (injected)")
            commit()
        return failing

    failed: list[bool] = []

    seen = wrap_commits(monkeypatch, fail)
    changes = [change("salesforce", f"002{i % 3}", {"Name": f"Beta {i}"}, at=i) for i in range(16)]
    futures = [queued.submit([c]) for c in changes]
    queued.start()
    outcomes = results(futures)
    assert seen and failed and queued.redone >= 1
    # Nothing twice, nothing missing: the failed batch's changes were not acknowledged before their redo.
    assert count(engine, t.change_log) == 16 and len({o.change_id for o in outcomes}) == 16
    assert not any(o.replayed for o in outcomes)
    with engine.connect() as conn:
        assert int(conn.execute(select(func.count()).select_from(t.bindings)).scalar_one()) == 3
        for c in range(3):
            cid = queries.canonical_for(conn, "default", "salesforce", "account", f"002{c}")
            record = queries.golden_record(conn, cid or "")
            assert record is not None and record.value("name") == f"Beta {max(i for i in range(16) if i % 3 == c)}"


def test_a_failing_batch_leaves_the_commit_beside_it_alone(queued: IngestService, engine: Engine,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    break_processing_on_broken(monkeypatch)
    good = [queued.submit([change("salesforce", f"003{i}", {"Name": f"Gamma {i}"})]) for i in range(6)]
    bad = queued.submit([change("salesforce", "003X", {"Name": "Broken"})])
    after = [queued.submit([change("salesforce", f"004{i}", {"Name": f"Delta {i}"})]) for i in range(3)]
    queued.start()
    assert len(results(good + after)) == 9
    with pytest.raises(ValueError, match="processing bug"):
        bad.result(timeout=60)
    assert queued.redone >= 1
    assert count(engine, t.change_log) == 9 and count(engine, t.golden_records) == 9


def test_a_large_batch_is_split_to_overlap_its_halves(engine: Engine, runtime: Runtime) -> None:
    # 40 callers waiting and no commit in flight: the writer takes all 40, commits the first 20 beside the work on
    # the other 20 (with the whole lot in one commit there would be nothing to overlap with).
    service = IngestService(engine, runtime, max_batch=512)
    futures = [service.submit([change("salesforce", f"007{i % 8}", {"Name": f"Split {i}"}, at=i)])
               for i in range(40)]
    service.start()
    try:
        assert len(results(futures)) == 40
        assert service.batches == 2 and service.overlapped == 1 and service.redone == 0
        assert count(engine, t.change_log) == 40 and count(engine, t.golden_records) == 8
    finally:
        service.stop()


def test_stop_commits_what_is_written(engine: Engine, runtime: Runtime) -> None:
    service = IngestService(engine, runtime, max_batch=2)
    futures = [service.submit([change("salesforce", f"005{i}", {"Name": f"Eps {i}"})]) for i in range(7)]
    service.start()
    service.stop()
    assert len(results(futures)) == 7 and count(engine, t.change_log) == 7


def test_concurrent_callers_get_their_own_outcomes(ingest: IngestService, engine: Engine) -> None:
    got: dict[str, ChangePublic | ChangeError] = {}
    lock = threading.Lock()

    def caller(n: int) -> None:
        for i in range(25):
            c: ChangeCreate = change("salesforce", f"006{n}-{i % 4}", {"Name": f"Z {n} {i}"}, at=i,
                                     key=f"caller-{n}-{i}")
            outcome = ingest.ingest([c])[0]
            with lock:
                got[c.idempotency_key] = outcome

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 150 and all(isinstance(o, ChangePublic) for o in got.values())
    with engine.connect() as conn:
        logged = dict(conn.execute(select(t.change_log.c.idempotency_key, t.change_log.c.change_id)).all())
    assert logged == {k: o.change_id for k, o in got.items() if isinstance(o, ChangePublic)}


def test_committer_runs_in_order_and_reports_errors() -> None:
    committer = Committer()
    order: list[str] = []
    boom = RuntimeError("boom")

    def fails() -> None:
        raise boom

    tickets = [committer.start(partial(order.append, f"c{i}"), partial(order.append, f"a{i}")) for i in range(3)]
    failed = committer.start(fails, partial(order.append, "never"))
    after = committer.start(partial(order.append, "c3"), partial(order.append, "a3"))
    try:
        assert all(tk.wait() for tk in tickets) and not failed.wait() and failed.error is boom and after.wait()
        committer.stop()  # runs what was handed over, then ends
        assert order == ["c0", "a0", "c1", "a1", "c2", "a2", "c3", "a3"]  # nothing acknowledged for the failure
    finally:
        committer.stop()


def test_a_cancelled_caller_in_a_serial_redo_does_not_kill_the_writer(engine: Engine, runtime: Runtime,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A caller that gave up (asyncio.wrap_future cancels the concurrent future when the request is cancelled) sits
    # in a batch that is redone serially because another change of it fails.
    break_processing_on_broken(monkeypatch)
    service = IngestService(engine, runtime, max_batch=8)
    try:
        gone = service.submit([change("salesforce", "0C1", {"Name": "Gone"})])
        assert gone.cancel()
        bad = service.submit([change("salesforce", "0C2", {"Name": "Broken"})])
        kept = service.submit([change("salesforce", "0C3", {"Name": "Kept"})])
        service.start()
        with pytest.raises(ValueError):
            bad.result(timeout=30)
        assert len(kept.result(timeout=30)) == 1
        later = service.submit([change("salesforce", "0C4", {"Name": "Later"})])
        assert len(later.result(timeout=30)) == 1
        assert count(engine, t.change_log) == 3
    finally:
        service.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_writer_survives_a_dropped_connection(engine: Engine, runtime: Runtime) -> None:
    service = IngestService(engine, runtime, max_batch=8)
    service.start()
    try:
        assert len(service.submit([change("salesforce", "0D1", {"Name": "One"})]).result(timeout=30)) == 1
        with engine.connect() as conn:
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()")).all()
            conn.commit()
        assert killed
        outcomes = [service.submit([change("salesforce", f"0D{i}", {"Name": f"N {i}"})]) for i in range(2, 6)]
        done = [f.result(timeout=60) for f in outcomes]
        assert len(done) == 4
        assert len(service.submit([change("salesforce", "0D9", {"Name": "Nine"})]).result(timeout=30)) == 1
    finally:
        service.stop()


def test_a_failed_commit_with_nothing_to_overlap_is_rolled_back_before_its_redo(
        engine: Engine, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # A lone batch is committed by the writer itself (`_finish`). Its commit fails the way the pipelined tests
    # inject it: nothing committed, the driver's transaction still open (SQLite: IOERR/FULL/BUSY may leave it so).
    real = engine.dialect.do_commit
    failed: list[bool] = []

    def do_commit(dbapi_connection: object) -> None:
        if not failed:
            failed.append(True)
            raise RuntimeError("disk I/O error (injected)")
        real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_commit", do_commit)
    service = IngestService(engine, runtime, max_batch=8)
    service.start()
    try:
        first = service.submit([change("salesforce", "0E1", {"Name": "Lone"})])
        assert len(first.result(timeout=20)) == 1 and failed
        later = service.submit([change("salesforce", "0E2", {"Name": "Later"})])
        assert len(later.result(timeout=20)) == 1
        assert count(engine, t.change_log) == 2
    finally:
        service.stop()


def test_a_writer_stopped_by_a_defect_answers_every_waiting_caller(queued: IngestService,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Failed batches are redone, never fatal; this is for a bug in the loop itself. Callers must hear it, not hang.
    from concord.ingest.pipeline import PipelinedWriter

    def broken(*_args: object) -> None:
        raise RuntimeError("a defect in the writer loop (injected)")

    monkeypatch.setattr(PipelinedWriter, "_batch", broken)
    futures = [queued.submit([change("salesforce", f"008{i}", {"Name": f"Eta {i}"})]) for i in range(6)]
    queued.start()
    later = [queued.submit([change("salesforce", "008Z", {"Name": "Late"})]) for _ in range(2)]
    for future in [*futures, *later]:  # taken, queued, and submitted after the writer died
        with pytest.raises(RuntimeError, match="ingest writer stopped"):
            future.result(timeout=20)
