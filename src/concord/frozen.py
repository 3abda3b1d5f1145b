"""Pickling and copying of dataclasses in the compiled hot path (decisions 089, 091)."""

from __future__ import annotations

import dataclasses
from typing import Any


def rebuild(obj: Any) -> tuple[Any, tuple[Any, ...]]:
    """`__reduce__` of a dataclass: rebuilt through its constructor. Why: mypyc compiles a frozen dataclass
    into a class whose attributes reject the setattr that the default `__setstate__` of copy and pickle uses,
    and a compiled class with a written-out `__init__` runs it from `__new__`, without the fields. Fields with
    `init=False` are left out: the constructor derives them (PreparedChange copies its request's addressing)."""
    return type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init)
