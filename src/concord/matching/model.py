"""Fellegi-Sunter scoring: per-field m/u probabilities per agreement level, the match weight of a pair, and
estimating m/u from unlabelled pairs (EM) or from steward decisions (counting). Pure; numpy only."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from concord.matching.compare import MISSING, Comparator

Gammas = npt.NDArray[np.int8]  # pairs x fields agreement levels; MISSING where a side is empty
_FLOOR = 1e-6  # no level is ever impossible: one unseen agreement must not veto a pair by itself


@dataclass
class FieldParams:
    m: list[float]  # P(level | same entity)
    u: list[float]  # P(level | different entities)

    def weight(self, level: int) -> float:
        return 0.0 if level == MISSING else math.log2(self.m[level] / self.u[level])


@dataclass
class FSModel:
    """Match weight = Σ log2(m/u) over fields; positive weight is evidence for "same entity"."""

    comparators: tuple[Comparator, ...]
    params: list[FieldParams]
    prior: float = 1e-3  # share of candidate pairs that match; EM estimates it, scoring does not use it
    weights: list[list[float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.weights = [[p.weight(level) for level in range(len(p.m))] for p in self.params]

    def gammas(self, left: Sequence[str], right: Sequence[str]) -> list[int]:
        return [cmp(a, b) for cmp, a, b in zip(self.comparators, left, right, strict=True)]

    def score(self, gammas: Sequence[int]) -> float:
        return sum(w[g] for w, g in zip(self.weights, gammas, strict=True) if g != MISSING)

    def scores(self, gammas: Gammas) -> npt.NDArray[np.float64]:
        total = np.zeros(len(gammas))
        for col, w in enumerate(self.weights):
            table = np.asarray([*w, 0.0])  # index -1 (MISSING) reads the appended 0
            total += table[gammas[:, col]]
        return total


def _normalised(values: npt.NDArray[np.float64]) -> list[float]:
    clipped = np.maximum(values, _FLOOR)
    return [float(v) for v in clipped / clipped.sum()]


def level_frequencies(gammas: Gammas, weights: npt.NDArray[np.float64], levels: int, col: int) -> list[float]:
    counts = np.zeros(levels)
    present = gammas[:, col] != MISSING
    np.add.at(counts, gammas[present, col], weights[present])
    return _normalised(counts + 0.5)


def train(comparators: tuple[Comparator, ...], gammas: Gammas, labels: npt.NDArray[np.bool_]) -> FSModel:
    """m/u counted from steward decisions (or any labelled pairs), with add-½ smoothing."""
    params = []
    for col, cmp in enumerate(comparators):
        m = level_frequencies(gammas, labels.astype(float), cmp.levels, col)
        u = level_frequencies(gammas, (~labels).astype(float), cmp.levels, col)
        params.append(FieldParams(m, u))
    return FSModel(comparators, params, prior=float(labels.mean()) if len(labels) else 1e-3)


def expectation_maximisation(model: FSModel, gammas: Gammas, fix_u: bool = True, iterations: int = 30,
                             tolerance: float = 1e-5) -> FSModel:
    """Classic EM over the distinct agreement patterns; u stays fixed when it came from random pairs, since the
    non-matches among blocked candidates are not a random sample of non-matches."""
    if len(gammas) == 0:
        return model
    patterns, counts = np.unique(gammas, axis=0, return_counts=True)
    weights = counts.astype(float)
    prior = model.prior
    for _ in range(iterations):
        log_odds = model.scores(patterns) + math.log2(prior / (1 - prior))
        posterior = 1.0 / (1.0 + np.power(2.0, -np.clip(log_odds, -60, 60)))
        matched = weights * posterior
        new_prior = float(min(max(matched.sum() / weights.sum(), 1e-6), 1 - 1e-6))
        for col, (cmp, p) in enumerate(zip(model.comparators, model.params, strict=True)):
            p.m = level_frequencies(patterns, matched, cmp.levels, col)
            if not fix_u:
                p.u = level_frequencies(patterns, weights - matched, cmp.levels, col)
        model.refresh()
        converged = abs(new_prior - prior) < tolerance
        prior = new_prior
        if converged:
            break
    model.prior = prior
    return model


def u_from_random_pairs(comparators: tuple[Comparator, ...], rows: Sequence[Sequence[str]], samples: int,
                        seed: int) -> list[list[float]]:
    """u estimated where it is defined: on random pairs (almost all non-matches). The exact level uses the
    value frequencies instead (Σ p²), which a small sample would badly underestimate for rare values."""
    rng = np.random.default_rng(seed)
    n = len(rows)
    left = rng.integers(0, n, samples)
    right = rng.integers(0, n, samples)
    keep = left != right
    gammas = np.asarray([[cmp(rows[i][c], rows[j][c]) for c, cmp in enumerate(comparators)]
                         for i, j in zip(left[keep], right[keep], strict=True)], dtype=np.int8)
    out = []
    for col, cmp in enumerate(comparators):
        freq = level_frequencies(gammas, np.ones(len(gammas)), cmp.levels, col)
        tally = Counter(r[col] for r in rows if r[col])
        total = sum(tally.values())
        if total:
            freq[-1] = max(sum((c / total) ** 2 for c in tally.values()), _FLOOR)
        rest = sum(freq[:-1])
        out.append([*(f * (1 - freq[-1]) / rest for f in freq[:-1]), freq[-1]])
    return out
