"""The duplicate check onboarding runs before creating anything downstream.

`DuplicateCheck` is the seam: the exact-key implementation here stands in until the online matcher
(concord.matching) is wired, which plugs in by implementing the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

from concord.canonical.fields import JsonValue
from concord.matching.keys import exact_keys
from concord.storage import tables as t


class DuplicateCandidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    canonical_id: str
    key: str
    score: float = 1.0


class DuplicateCheck(Protocol):
    def candidates(self, tenant: str, entity: str, canonical_id: str,
                   values: dict[str, JsonValue]) -> list[DuplicateCandidate]: ...


class ExactKeyDuplicateCheck:
    """Another golden record holding one of this record's exact business keys (tax id, domain, ERP number)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def candidates(self, tenant: str, entity: str, canonical_id: str,
                   values: dict[str, JsonValue]) -> list[DuplicateCandidate]:
        keys = exact_keys(entity, values)
        if not keys:
            return []
        m = t.match_keys.c
        query = select(m.key, m.canonical_id).where(m.tenant == tenant, m.entity == entity, m.key.in_(keys),
                                                    m.canonical_id != canonical_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [DuplicateCandidate(canonical_id=row.canonical_id, key=row.key) for row in rows]
