"""Pickling and copying of frozen dataclasses in the compiled hot path (decision 089)."""

from __future__ import annotations

import dataclasses
from typing import Any


def rebuild(obj: Any) -> tuple[Any, tuple[Any, ...]]:
    """`__reduce__` of a frozen dataclass: rebuilt through its constructor. Why: mypyc compiles a frozen dataclass
    into a class whose attributes reject the setattr that the default `__setstate__` of copy and pickle uses."""
    return type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
