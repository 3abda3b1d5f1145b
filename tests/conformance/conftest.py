"""Collects every `tests/conformance/target_*.py` module's TARGETS into the `target` fixture."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.connectors.base import Connector
from tests.conformance.target import ConformanceTarget


def _targets() -> list[ConformanceTarget]:
    found: list[ConformanceTarget] = []
    for path in sorted(Path(__file__).parent.glob("target_*.py")):
        module = importlib.import_module(f"tests.conformance.{path.stem}")
        found.extend(module.TARGETS)
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        targets = _targets()
        if metafunc.function.__name__.startswith("test_upsert"):  # only where the system declares an upsert
            targets = [t for t in targets if t.external_id_field is not None]
        metafunc.parametrize("target", targets, ids=[t.name for t in targets], scope="module")


@pytest.fixture(scope="module")
def connector(target: ConformanceTarget) -> Iterator[Connector]:
    with target.start() as conn:
        yield conn
