"""The duplicate check onboarding runs before creating anything downstream.

`DuplicateCheck` is the seam. `MatcherDuplicateCheck` (the default) asks the online matcher (Fellegi-Sunter
score over the golden records); `ExactKeyDuplicateCheck` is the fallback for entities the matcher does not index.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

from concord.canonical.fields import JsonValue
from concord.matching.decision import MatchDecision, Outcome
from concord.matching.keys import exact_keys
from concord.matching.store import DuplicateChecker
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


def _candidate(decision: MatchDecision) -> DuplicateCandidate:
    """The key is the field that weighs most for the match: what the steward looks at first."""
    strongest = max(decision.evidence, key=lambda e: e.weight, default=None)
    key = f"{strongest.field}:{strongest.level}" if strongest is not None else decision.outcome.value
    return DuplicateCandidate(canonical_id=decision.right_id, key=key, score=decision.score)


class MatcherDuplicateCheck:
    """The online matcher: a golden record scoring at auto-link or steward-review level is a candidate (the
    workflow turns it into a duplicate task); entities without identity matching fall back to exact keys.

    The index is built once and follows the change log before each check (`matching.follow`), so customers
    other processes (ingest workers, other onboarding runs) committed since are seen without a rebuild."""

    def __init__(self, engine: Engine, checker: DuplicateChecker | None = None) -> None:
        self.engine = engine
        self.checker = checker or DuplicateChecker()
        self.fallback = ExactKeyDuplicateCheck(engine)

    def candidates(self, tenant: str, entity: str, canonical_id: str,
                   values: dict[str, JsonValue]) -> list[DuplicateCandidate]:
        if not values:
            return []
        with self.engine.connect() as conn:
            result = self.checker.check(conn, tenant, entity, values, exclude=canonical_id)
        if result is None:
            return self.fallback.candidates(tenant, entity, canonical_id, values)
        return [_candidate(d) for d in result.candidates if d.outcome in (Outcome.LINK, Outcome.REVIEW)]
