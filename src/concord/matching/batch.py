"""Batch matching over whole record sets: deduplication into clusters (transitive, guarded against chaining)
with a review queue, and one-to-one linkage of two sets (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from concord.matching.blocking import Pairs, dedupe_pairs, link_pairs
from concord.matching.decision import MatchDecision, MatchSettings, Outcome, explain
from concord.matching.model import FSModel, Gammas, expectation_maximisation, u_from_random_pairs
from concord.matching.specs import MatchSpec, Row


@dataclass
class MatchRun:
    """The decisions of one run above the review bar, best first, and the work it took."""

    model: FSModel
    candidates: int
    decisions: list[MatchDecision] = field(default_factory=list)
    clusters: list[list[str]] = field(default_factory=list)  # dedupe only: groups of ≥ 2 record ids

    @property
    def links(self) -> list[MatchDecision]:
        return [d for d in self.decisions if d.outcome is Outcome.LINK]

    @property
    def review(self) -> list[MatchDecision]:
        return [d for d in self.decisions if d.outcome is Outcome.REVIEW]


def agreement(model: FSModel, left: Sequence[Row], right: Sequence[Row], pairs: Pairs) -> Gammas:
    cmps = model.comparators
    out = np.empty((len(pairs), len(cmps)), dtype=np.int8)
    for col, cmp in enumerate(cmps):
        out[:, col] = [cmp(left[i][col], right[j][col]) for i, j in pairs]
    return out


def fit(spec: MatchSpec, rows: Sequence[Row], gammas: Gammas, settings: MatchSettings) -> FSModel:
    """The spec's defaults, refined on this data: u from random pairs, then m (and the prior) by EM."""
    model = spec.model()
    if not settings.estimate or len(rows) < settings.min_records_for_em:
        return model
    for params, u in zip(model.params, u_from_random_pairs(spec.comparators, rows, settings.random_pairs,
                                                           settings.seed), strict=True):
        params.u = u
    model.prior = 0.05  # EM's start; it converges to the blocked pairs' own match share
    return expectation_maximisation(model, gammas)


def _decisions(model: FSModel, settings: MatchSettings, ids: tuple[Sequence[str], Sequence[str]],
               rows: tuple[Sequence[Row], Sequence[Row]], pairs: Pairs, gammas: Gammas) -> list[MatchDecision]:
    scores = model.scores(gammas)
    keep = np.flatnonzero(scores >= settings.review_threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return [explain(model, settings, ids[0][pairs[k, 0]], rows[0][pairs[k, 0]], ids[1][pairs[k, 1]],
                    rows[1][pairs[k, 1]], [int(g) for g in gammas[k]]) for k in keep]


def dedupe(spec: MatchSpec, ids: Sequence[str], rows: Sequence[Row], settings: MatchSettings,
           model: FSModel | None = None) -> MatchRun:
    pairs = dedupe_pairs([spec.block_keys(r) for r in rows], settings.max_block)
    gammas = agreement(spec.model(), rows, rows, pairs)
    model = model or fit(spec, rows, gammas, settings)
    run = MatchRun(model, len(pairs), _decisions(model, settings, (ids, ids), (rows, rows), pairs, gammas))
    by_id = dict(zip(ids, rows, strict=True))
    run.decisions, run.clusters = cluster(run.decisions, by_id, model, settings)
    return run


def link(spec: MatchSpec, left: tuple[Sequence[str], Sequence[Row]], right: tuple[Sequence[str], Sequence[Row]],
         settings: MatchSettings, one_to_one: bool = True, model: FSModel | None = None) -> MatchRun:
    """Link two sets; `one_to_one` (each side deduplicated already) keeps only each record's best link."""
    pairs = link_pairs([spec.block_keys(r) for r in left[1]], [spec.block_keys(r) for r in right[1]],
                       settings.max_block)
    gammas = agreement(spec.model(), left[1], right[1], pairs)
    model = model or fit(spec, [*left[1], *right[1]], gammas, settings)
    decisions = _decisions(model, settings, (left[0], right[0]), (left[1], right[1]), pairs, gammas)
    if one_to_one:
        decisions = _best_only(decisions)
    return MatchRun(model, len(pairs), decisions)


def _best_only(decisions: list[MatchDecision]) -> list[MatchDecision]:
    taken_left: set[str] = set()
    taken_right: set[str] = set()
    out = []
    for d in decisions:  # best first, so the first claim on a record is its best
        if d.left_id in taken_left or d.right_id in taken_right:
            if d.outcome is Outcome.LINK:
                out.append(d.with_outcome(Outcome.NEW, "a better link exists for one side"))
            continue
        taken_left.add(d.left_id)
        taken_right.add(d.right_id)
        out.append(d)
    return out


def cluster(decisions: list[MatchDecision], rows: dict[str, Row], model: FSModel,
            settings: MatchSettings) -> tuple[list[MatchDecision], list[list[str]]]:
    """Union the auto-links, best first. Two groups join only if no cross pair has net evidence against it and
    the result stays small: A~B and B~C must not drag a clearly different C into A's customer (chaining)."""
    members: dict[str, list[str]] = {i: [i] for i in rows}
    owner: dict[str, str] = {i: i for i in rows}
    out = []
    for d in decisions:
        a, b = owner[d.left_id], owner[d.right_id]
        if d.outcome is not Outcome.LINK or a == b:
            out.append(d)
            continue
        reason = _chain_guard(members[a], members[b], rows, model, settings)
        if reason:
            out.append(d.with_outcome(Outcome.REVIEW, reason))
            continue
        members[a].extend(members.pop(b))
        for i in members[a]:
            owner[i] = a
        out.append(d)
    clusters = sorted((sorted(m) for m in members.values() if len(m) > 1), key=lambda m: (-len(m), m[0]))
    return out, clusters


def _chain_guard(group_a: list[str], group_b: list[str], rows: dict[str, Row], model: FSModel,
                 settings: MatchSettings) -> str:
    if len(group_a) + len(group_b) > settings.max_cluster:
        return f"cluster would exceed {settings.max_cluster} records"
    if len(group_a) == 1 and len(group_b) == 1:
        return ""
    for x in group_a:
        for y in group_b:
            if model.score(model.gammas(rows[x], rows[y])) < settings.chain_floor:
                return f"{x} and {y} disagree (chain)"
    return ""
