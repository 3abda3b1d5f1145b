"""What a connector offers the shared conformance suite: how to start it against a live system, and data."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from concord.connectors.base import Connector


@dataclass(frozen=True)
class ConformanceTarget:
    """One connector + object under test. `start()` yields a connector bound to a fresh, running system
    (a sandbox twin, or the real Tryton / scim2-server) and stops it afterwards."""

    name: str
    start: Callable[[], AbstractContextManager[Connector]]
    obj: str
    valid: Callable[[int], dict[str, Any]]  # a valid native record, unique per index
    update: dict[str, Any]  # a valid partial update of `valid(i)`
    invalid: dict[str, Any]  # a payload the system refuses
    invalid_field: str | None  # the field the system names in its refusal (None when it names none)
    search: Callable[[dict[str, Any]], dict[str, Any]]  # criteria that find the record created from a payload
    external_id_field: str | None = None  # native field for upsert-by-external-id, if supported
    read_back: Callable[[dict[str, Any], dict[str, Any]], None] | None = None  # assert sent ⊆ read (custom)
