"""Match decisions: the outcome of comparing two records, with its score and the evidence of every field, so a
steward (and later merge/unmerge) can see why two records were linked, queued or kept apart (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from concord.matching.compare import MISSING
from concord.matching.model import FSModel


class Outcome(StrEnum):
    LINK = "link"  # same customer: linked without a human
    REVIEW = "review"  # a steward decides
    NEW = "new"  # a different customer


class MatchSettings(BaseModel):
    """Thresholds on the match weight (log2 Bayes factor). Fixed on FEBRL1/FEBRL2 and the generated company
    set; precision first, so the auto-link bar sits well above the point of equal error."""

    link_threshold: float = 12.0
    review_threshold: float = 4.0
    max_block: int = Field(default=400, ge=2, description="blocks larger than this are too common to use")
    max_cluster: int = Field(default=12, ge=2, description="no auto-linked cluster grows beyond this")
    chain_floor: float = Field(default=0.0, description="two groups join only if no cross pair scores below this")
    estimate: bool = Field(default=True, description="refine m/u by EM on the data being matched")
    random_pairs: int = Field(default=20_000, ge=100, description="random pairs sampled to estimate u")
    min_records_for_em: int = Field(default=200, ge=2)
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> MatchSettings:
        if self.review_threshold > self.link_threshold:
            raise ValueError("review_threshold must not exceed link_threshold")
        return self

    def outcome(self, score: float) -> Outcome:
        if score >= self.link_threshold:
            return Outcome.LINK
        return Outcome.REVIEW if score >= self.review_threshold else Outcome.NEW


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    field: str
    left: str
    right: str
    level: str  # the comparator's label, or "missing"
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "left": self.left, "right": self.right, "level": self.level,
                "weight": round(self.weight, 3)}


@dataclass(frozen=True, slots=True)
class MatchDecision:
    left_id: str
    right_id: str
    score: float
    outcome: Outcome
    evidence: tuple[FieldEvidence, ...]
    reason: str = ""  # why the outcome differs from the score's band, e.g. a blocked chain

    def to_json(self) -> dict[str, Any]:
        return {"left_id": self.left_id, "right_id": self.right_id, "score": round(self.score, 3),
                "outcome": self.outcome.value, "reason": self.reason,
                "evidence": [e.to_json() for e in self.evidence]}

    def with_outcome(self, outcome: Outcome, reason: str) -> MatchDecision:
        return MatchDecision(self.left_id, self.right_id, self.score, outcome, self.evidence, reason)


def decide(model: FSModel, settings: MatchSettings, left_id: str, left: Sequence[str], right_id: str,
           right: Sequence[str]) -> MatchDecision:
    gammas = model.gammas(left, right)
    return explain(model, settings, left_id, left, right_id, right, gammas)


def explain(model: FSModel, settings: MatchSettings, left_id: str, left: Sequence[str], right_id: str,
            right: Sequence[str], gammas: Sequence[int]) -> MatchDecision:
    evidence = tuple(
        FieldEvidence(cmp.field, a, b, "missing" if g == MISSING else cmp.labels[g],
                      0.0 if g == MISSING else model.weights[col][g])
        for col, (cmp, a, b, g) in enumerate(zip(model.comparators, left, right, gammas, strict=True)))
    score = sum(e.weight for e in evidence)
    decision = MatchDecision(left_id, right_id, score, settings.outcome(score), evidence)
    anchors = [(cmp.anchor, g) for cmp, g in zip(model.comparators, gammas, strict=True) if cmp.anchor is not None]
    if decision.outcome is Outcome.LINK and anchors and not any(g >= level for level, g in anchors):
        return decision.with_outcome(Outcome.REVIEW, "no identifier agrees")
    return decision
