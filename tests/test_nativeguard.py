"""The compiled hot path (decision 089): used when current, never when stale, and the pure build still runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import concord
from concord import nativeguard
from concord.nativeguard import SourceFinder, compiled, stale
from tests.services import in_ci

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(concord.__file__).parent


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _compiled(package: Path, name: str, source: str, built: bool = True) -> None:
    """A module as the build leaves it: its source, and (a stand-in for) its extension beside it."""
    (package / f"{name}.py").write_text(source)
    if built:
        (package / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"")


def test_stale_names_every_module_whose_source_changed_or_vanished_or_lacks_its_extension(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    _compiled(tmp_path / "pkg", "same", "A = 1\n")
    _compiled(tmp_path / "pkg", "edited", "B = 2\n")
    _compiled(tmp_path / "pkg", "unbuilt", "C = 3\n", built=False)
    stamp = {"pkg.same": _digest("A = 1\n"), "pkg.edited": _digest("B = 1\n"), "pkg.gone": _digest(""),
             "pkg.unbuilt": _digest("C = 3\n")}
    assert stale(stamp, tmp_path) == ["pkg.edited", "pkg.gone", "pkg.unbuilt"]


def test_the_source_finder_loads_a_listed_module_from_its_py_file_and_ignores_others(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("WHERE = 'source'\n")
    finder = SourceFinder(frozenset({"pkg.mod"}), tmp_path)
    spec = finder.find_spec("pkg.mod")
    assert spec is not None and spec.origin == str(tmp_path / "pkg" / "mod.py")
    assert finder.find_spec("pkg.other") is None


def test_guard_falls_back_to_every_source_when_one_compiled_module_is_stale(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkgx"
    package.mkdir()
    _compiled(package, "fresh", "A = 1\n")
    _compiled(package, "edited", "B = 2\n")
    (package / "native.json").write_text(json.dumps({"pkgx.fresh": _digest("A = 1\n"),
                                                     "pkgx.edited": _digest("B = 1\n")}))
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, SourceFinder)])
    monkeypatch.delenv(nativeguard.PURE_ENV, raising=False)
    with pytest.warns(RuntimeWarning, match="pkgx.edited changed since it was compiled, or its extension is missing"):
        assert nativeguard.guard(package) is False
    finder = sys.meta_path[0]
    assert isinstance(finder, SourceFinder) and finder.modules == {"pkgx.fresh", "pkgx.edited"}
    (package / "native.json").write_text(json.dumps({"pkgx.fresh": _digest("A = 1\n")}))
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, SourceFinder)])
    assert nativeguard.guard(package) is True  # current: nothing installed
    assert not any(isinstance(f, SourceFinder) for f in sys.meta_path)


def _probe(env: dict[str, str]) -> dict[str, object]:
    """In a fresh interpreter: which build each listed module came from, and one change ingested with it."""
    code = """
import json, tempfile, pathlib, importlib
import concord
from concord.nativeguard import compiled
from concord.hubconfig import load_runtime
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine, upgrade
from tests.factories import change
stamp = json.loads((pathlib.Path(concord.__file__).parent / "native.json").read_text())
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{tmp}/g.db"); upgrade(engine)
    service = IngestService(engine, load_runtime(None)); service.start()
    out = service.submit([change("salesforce", "001A", {"Name": "Acme"}, at=1)]).result(timeout=60)
    service.stop(); engine.dispose()
print(json.dumps({"native": concord.NATIVE, "status": str(out[0].status.value),
                  "compiled": sorted(m for m in stamp if compiled(importlib.import_module(m)))}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**env, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture
def built() -> dict[str, str]:
    stamp = PACKAGE / "native.json"
    if not stamp.is_file():
        if in_ci():
            pytest.fail("CI=true but the hot path is not compiled: `make install` runs tools/build_native.py")
        pytest.skip("the hot path is not compiled here (run `make install`)")
    return dict(json.loads(stamp.read_text()))


def test_a_current_build_runs_compiled_and_the_pure_build_runs_the_same_ingest(built: dict[str, str]) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != nativeguard.PURE_ENV}
    native = _probe(env)
    assert native == {"native": True, "status": "applied", "compiled": sorted(built)}
    pure = _probe({**env, nativeguard.PURE_ENV: "1"})
    assert pure == {"native": False, "status": "applied", "compiled": []}


def test_the_test_session_itself_runs_the_compiled_build(built: dict[str, str]) -> None:
    """So the rest of the suite tests what `make demo` and `concord serve` run."""
    import importlib
    import os

    assert nativeguard.stale(built, PACKAGE.parent) == [], "`make install` rebuilds a stale compiled module"
    if os.environ.get(nativeguard.PURE_ENV) == "1":
        pytest.skip(f"{nativeguard.PURE_ENV}=1: this session runs the pure build on purpose")
    assert concord.NATIVE
    assert [m for m in built if not compiled(importlib.import_module(m))] == []


def test_the_compiled_frozen_dataclasses_pickle_and_copy() -> None:
    """mypyc's frozen classes reject the setattr that copy's and pickle's default `__setstate__` uses; each
    defines `__reduce__` (concord.frozen.rebuild), which this pins for the compiled and the pure build alike."""
    import copy
    import pickle

    from concord.canonical.golden import FieldValue, GoldenRecord, Provenance
    from concord.events.derive import DerivedEvent
    from concord.ingest.binder import Hold
    from concord.ingest.prepare import PreparedChange
    from concord.ownership.gate import FieldRejection, PendingApproval
    from tests.factories import change

    prov = Provenance("tryton", 1_700_000_000_000_000, "chg-1", "tryton/account@3", None)
    values: list[object] = [
        GoldenRecord("default", "account", "cus-1", 2, {"name": FieldValue("Acme", prov, True)}),
        prov, DerivedEvent("CustomerCreated", {"canonical_id": "cus-1"}), Hold("rev-1", "cus-2"),
        FieldRejection("credit_status", "hold", "tryton", "owner_only"),
        PendingApproval("name", "Acme AG", "Acme", "salesforce", "tryton", 5),
        PreparedChange(change("salesforce", "001A", {"Name": "Acme"}), "chg-2", "cor-2", 5, {"name": "Acme"}, {},
                       "salesforce/account@1")]
    for value in values:
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value and copy.copy(value) == value
