"""Field comparators: each maps two normalised values to an agreement level (pure).

Level 0 is "disagree", the highest level is "exact"; `MISSING` (either side empty) carries no evidence, so a
blank field neither helps nor hurts a pair — Fellegi-Sunter gives it weight 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.fuzz import token_set_ratio, token_sort_ratio

MISSING = -1


@dataclass(frozen=True)
class Comparator:
    """One field's comparison: `labels[level]` names each level, from disagreement (0) to exact."""

    field: str
    labels: tuple[str, ...]
    measure: Callable[[str, str], int]
    anchor: int | None = None  # agreement at this level or above identifies the entity (see `anchored`)

    @property
    def levels(self) -> int:
        return len(self.labels)

    def __call__(self, left: str, right: str) -> int:
        if not left or not right:
            return MISSING
        if left == right:
            return self.levels - 1
        return self.measure(left, right)


def anchored(cmp: Comparator, level: str) -> Comparator:
    """Mark agreement at `level` or above as an identifier. When a model has anchors, a pair that agrees on none
    (a similar name at the same address, say) is never linked without a steward, whatever its score."""
    return replace(cmp, anchor=cmp.labels.index(level))


def exact(field: str) -> Comparator:
    return Comparator(field, ("different", "exact"), lambda _a, _b: 0)


def fuzzy_text(field: str, high: float = 0.92, low: float = 0.8) -> Comparator:
    """Jaro-Winkler bands: typos and truncations land in `close`, unrelated strings in `different`."""

    def measure(a: str, b: str) -> int:
        sim = JaroWinkler.normalized_similarity(a, b)
        return 2 if sim >= high else 1 if sim >= low else 0

    return Comparator(field, ("different", "similar", "close", "exact"), measure)


def edit_distance(field: str) -> Comparator:
    """Codes and numbers (ids, postcodes, dates): one typo or transposition is `close`, anything more differs."""

    def measure(a: str, b: str) -> int:
        return 1 if DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1 else 0

    return Comparator(field, ("different", "one_edit", "exact"), measure)


def company(field: str) -> Comparator:
    """Names as token sets, so word order, a dropped word and typos grade down gently."""

    def measure(a: str, b: str) -> int:
        if token_sort_ratio(a, b) >= 92:
            return 3
        if JaroWinkler.normalized_similarity(a, b) >= 0.9 or token_set_ratio(a, b) >= 90:
            return 2
        return 1 if token_sort_ratio(a, b) >= 75 else 0

    return Comparator(field, ("different", "similar", "close", "reordered", "exact"), measure)


def any_shared(field: str) -> Comparator:
    """Multi-valued fields ("|"-joined, e.g. several tax ids): one shared value is agreement."""

    def measure(a: str, b: str) -> int:
        return 1 if set(a.split("|")) & set(b.split("|")) else 0

    return Comparator(field, ("different", "shared"), measure)


def date(field: str) -> Comparator:
    """YYYYMMDD dates: one keying error is `close`; day and month swapped is `swapped`."""

    def measure(a: str, b: str) -> int:
        if DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1:
            return 2
        swapped = len(a) == 8 and len(b) == 8 and a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]
        return 1 if swapped else 0

    return Comparator(field, ("different", "swapped", "one_edit", "exact"), measure)
