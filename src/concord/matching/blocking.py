"""Blocking: only records sharing a blocking key are compared. A key shared by more than `max_block` records
(a common surname, a shared switchboard number) is too weak to block on and is skipped (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Pairs = npt.NDArray[np.int64]  # n x 2 row indices


def inverted(keys: Sequence[Sequence[str]]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, row_keys in enumerate(keys):
        for key in set(row_keys):
            index.setdefault(key, []).append(i)
    return index


def _as_pairs(found: set[tuple[int, int]]) -> Pairs:
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.asarray(sorted(found), dtype=np.int64)


def dedupe_pairs(keys: Sequence[Sequence[str]], max_block: int) -> Pairs:
    """Distinct (i, j), i < j, sharing at least one usable key."""
    found: set[tuple[int, int]] = set()
    for members in inverted(keys).values():
        if 1 < len(members) <= max_block:
            found.update((a, b) for x, a in enumerate(members) for b in members[x + 1:])
    return _as_pairs(found)


def link_pairs(left: Sequence[Sequence[str]], right: Sequence[Sequence[str]], max_block: int) -> Pairs:
    """Distinct (i in left, j in right) sharing at least one usable key."""
    right_index = inverted(right)
    found: set[tuple[int, int]] = set()
    for key, members in inverted(left).items():
        others = right_index.get(key)
        # The same pair budget as a dedupe block of `max_block` records (n²/2 pairs, halved again for margin).
        if others and len(members) * len(others) <= max_block * max_block // 4:
            found.update((a, b) for a in members for b in others)
    return _as_pairs(found)
