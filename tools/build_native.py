"""Compile the ingest hot path with mypyc (decision 089): `python tools/build_native.py` from the project root.

Why: the ingest writer is one interpreter's worth of Python per change (decision 085); mypyc turns the typed
modules listed in pyproject.toml (`[tool.concord.native] modules`) into C extensions, about 14% fewer machine
instructions per ingested change (`python -m bench ingest_cost` measures both in one run).

The extensions are built in place beside their sources (Python imports an extension before a .py of the same
name), with `src/concord/native.json` recording the SHA-256 of each source compiled. `concord/__init__.py`
loads every listed module from source instead when any of them changed since (or `CONCORD_PURE_PYTHON=1`), so
a stale extension never runs. Up-to-date builds are skipped; a machine without a C compiler keeps pure Python.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
STAMP = SRC / "concord" / "native.json"
BUILD = ROOT / "build" / "native"
GROUP = "concord.native"  # the shared library: src/concord/native__mypyc.*.so

sys.path.insert(0, str(SRC))
with warnings.catch_warnings():  # importing concord checks the stamp; "stale" is why this script runs
    warnings.simplefilter("ignore", RuntimeWarning)
    from concord import nativeguard  # the stamp's digests: written here, checked there, by one function


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["concord"]["native"]["modules"])


def source(module: str) -> Path:
    return nativeguard.source_of(SRC, module)


def digests(names: list[str]) -> dict[str, str]:
    return {m: nativeguard.digest(source(m)) for m in names}


def clean() -> None:
    """Remove every extension and the stamp (the package is pure Python again)."""
    STAMP.unlink(missing_ok=True)
    for built in SRC.rglob("*.so"):
        built.unlink()


def build(names: list[str]) -> None:
    from mypyc.build import mypycify
    from setuptools import setup  # type: ignore[import-untyped]  # ships no type information

    clean()
    BUILD.mkdir(parents=True, exist_ok=True)
    os.chdir(SRC)  # module names follow from paths relative to here
    extensions = mypycify([str(source(m).relative_to(SRC)) for m in names], opt_level="3",
                          group_name=GROUP, target_dir=str(BUILD / "c"))
    setup(name="concord-native", ext_modules=extensions, script_args=[
        "-q", "build_ext", "--inplace", "--build-temp", str(BUILD / "temp"), "--build-lib", str(BUILD / "lib")])
    STAMP.write_text(json.dumps(digests(names), indent=1) + "\n")


def main() -> int:
    names = modules()
    if "--clean" in sys.argv[1:]:
        clean()
        return 0
    if STAMP.exists() and json.loads(STAMP.read_text()) == digests(names):
        return 0  # up to date
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("build_native: no C compiler; Concord runs as pure Python (slower ingest, same behaviour)")
        clean()
        return 0
    print(f"build_native: compiling {len(names)} modules with mypyc (about a minute) …", flush=True)
    try:
        build(names)
    except (Exception, SystemExit) as exc:  # setuptools exits on a compiler error (missing Python headers, …)
        # Never fatal: `make demo` must run on any machine. CI still fails (tests/test_nativeguard.py wants the
        # compiled build when CI=true), so a module mypyc stops compiling is noticed.
        clean()
        print(f"build_native: compiling failed ({exc!r}); Concord runs as pure Python", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
