"""Builders for test changes, so tests state only what matters to them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from concord.ingest.models import ChangeCreate

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_keys = itertools.count()


def change(system: str, external_id: str, fields: dict[str, Any], at: int = 0, *, entity: str = "account",
           key: str | None = None, canonical_id: str | None = None, tenant: str = "default") -> ChangeCreate:
    """A change from `system` at T0 + `at` seconds."""
    return ChangeCreate(tenant=tenant, system=system, entity=entity, external_id=external_id, fields=fields,
                        source_ts=T0 + timedelta(seconds=at), idempotency_key=key or f"test-{next(_keys)}",
                        canonical_id=canonical_id)
