"""Which build of the compiled hot path may run: the mypyc extensions, or the same modules from source.

`tools/build_native.py` compiles the modules listed in pyproject.toml beside their sources and records each
source's SHA-256 in `native.json`. Python imports an extension before a .py of the same name, so an extension
built from an older source would silently run old code after an edit or a checkout. Hence, before any of those
modules is imported (`concord/__init__.py` calls `guard` first), the stamp is compared with the sources: if any
differs or lacks its extension, or `CONCORD_PURE_PYTHON=1`, every listed module is loaded from source — all of
them, because compiled modules of one group call each other directly, not through the module attributes a
partial swap would replace.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PURE_ENV = "CONCORD_PURE_PYTHON"


def source_of(root: Path, module: str) -> Path:
    """The .py file of `module` under `root` (the directory holding the top-level package)."""
    return root / (module.replace(".", "/") + ".py")


def digest(source: Path) -> str:
    """What the stamp records per module (tools/build_native.py writes it with this same function)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def stale(stamp: dict[str, str], root: Path) -> list[str]:
    """Modules of `stamp` that cannot run compiled: the source under `root` (the directory holding the top-level
    package) is missing or no longer the one compiled, or the extension is missing (a copy of the tree that
    kept the stamp but not the extensions, such as a wheel)."""
    out = []
    for module, compiled_from in stamp.items():
        path = source_of(root, module)
        built = any(path.with_suffix(suffix).is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES)
        if not built or not path.is_file() or digest(path) != compiled_from:
            out.append(module)
    return out


class SourceFinder:
    """A meta-path finder that loads the named modules from their .py files, never from an extension."""

    def __init__(self, modules: frozenset[str], root: Path) -> None:
        self.modules = modules
        self.root = root

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        source = source_of(self.root, fullname)
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


def guard(package_dir: Path) -> bool:
    """Install the source finder unless the compiled build is present, current and wanted; whether compiled
    modules will be used."""
    stamp_path = package_dir / "native.json"
    if not stamp_path.is_file():
        return False  # never compiled: plain imports find the sources
    stamp: dict[str, str] = json.loads(stamp_path.read_text())
    root = package_dir.parent
    changed = stale(stamp, root)
    if changed:
        warnings.warn(f"concord: {changed[0]} changed since it was compiled, or its extension is missing; running "
                      "the pure-Python build (`make install` compiles it again)", RuntimeWarning, stacklevel=3)
    elif os.environ.get(PURE_ENV) != "1":
        return True
    if not any(isinstance(f, SourceFinder) and f.root == root for f in sys.meta_path):
        sys.meta_path.insert(0, SourceFinder(frozenset(stamp), root))
    return False


def compiled(module: ModuleType) -> bool:
    """Whether `module` was loaded from a compiled extension."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)
