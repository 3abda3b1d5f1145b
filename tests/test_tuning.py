"""The ingest writer's own young-generation collections (concord/tuning.py, docs/decisions/090)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from concord.tuning import YoungCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    """Two objects referring to each other: only the cyclic collector frees them once dropped."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


@pytest.fixture
def quiet_gc() -> Iterator[None]:
    """No automatic collection during the test (only the ones it makes), generation 1's count at zero; the
    process's settings back afterwards."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.set_threshold(10**7, 2, 100)
    gc.enable()
    gc.collect(1)
    yield
    gc.set_threshold(*thresholds)
    if not enabled:
        gc.disable()


def test_a_pass_frees_young_garbage_cycles(quiet_gc: None) -> None:
    node, alive = cycle()
    del node
    assert alive() is not None  # nothing automatic ran
    assert YoungCollector().collect() == 0
    assert alive() is None
    assert gc.get_count()[0] == 0


def test_survivors_wait_for_the_generation_one_pass_when_its_count_is_due(quiet_gc: None) -> None:
    collector = YoungCollector()
    node, alive = cycle()
    assert collector.collect() == 0  # the cycle is alive: it survives into generation 1
    del node
    assert collector.collect() == 0
    assert alive() is not None  # a young pass does not look at generation 1
    assert [collector.collect(), collector.collect()] == [0, 1]  # its count passes the threshold (2) at the fourth
    assert alive() is None
    assert collector.passes == [3, 1]


def test_nothing_while_the_process_has_collection_off(quiet_gc: None) -> None:
    gc.disable()
    node, alive = cycle()
    del node
    assert YoungCollector().collect() == -1
    assert alive() is not None
    gc.enable()
    gc.collect()
    assert alive() is None
