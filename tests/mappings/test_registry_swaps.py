"""MappingSet swaps from several threads at once (the ingest threads' sync and an activation): none is lost, and
the router's cached targets never outlive a swap."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from concord.hubconfig import load_runtime
from concord.mappings.mapper import Mapper
from concord.mappings.registry import MappingSet


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Let threads switch every microsecond, so an unguarded read-copy-write of a tenant's dict loses swaps
    (without the lock about one round in ten did)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _swap_all_at_once(mappings: MappingSet, mappers: list[Mapper]) -> None:
    barrier = threading.Barrier(len(mappers))

    def put(mapper: Mapper) -> None:
        barrier.wait()
        mappings.put(mapper)

    threads = [threading.Thread(target=put, args=(m,)) for m in mappers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_swaps_of_one_tenant_are_all_kept(eager_switching: None) -> None:
    mappings = load_runtime(None).mappings
    hub = [m.spec for m in mappings.mappers.values()]
    for round_ in range(150):
        tenant = f"t{round_}"
        mappings.targets("account", tenant)  # a cached target list the swaps must replace
        own = [Mapper(spec.model_copy(update={"tenant": tenant}), mappings.transforms) for spec in hub]
        _swap_all_at_once(mappings, own)
        assert len(mappings.overrides[tenant]) == len(own), f"round {round_} lost a swap"
        targets = mappings.targets("account", tenant)
        assert targets and all(m.spec.tenant == tenant for m in targets)
