"""The online duplicate check: an in-memory blocking index over the golden records of one tenant and entity,
answering "is this the same as an existing customer?" before ingest or onboarding creates one (pure).

Kept current incrementally (`upsert` / `remove` as golden records change) and rebuildable from the store.
A query touches only the postings of its own blocking keys, so its cost does not grow with the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from concord.canonical.fields import JsonValue
from concord.matching.decision import MatchDecision, MatchSettings, Outcome, explain
from concord.matching.model import FSModel
from concord.matching.specs import MatchSpec, Row

PROBE_ID = "(incoming)"  # the left side of every decision the check returns


@dataclass(frozen=True)
class CheckResult:
    """`outcome` is that of the best candidate (NEW when none reaches review); `candidates` best first."""

    outcome: Outcome
    candidates: tuple[MatchDecision, ...]
    compared: int

    @property
    def best(self) -> MatchDecision | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class MatchIndex:
    spec: MatchSpec
    model: FSModel
    settings: MatchSettings = field(default_factory=MatchSettings)
    max_candidates: int = 200  # a query never compares more records than this
    rows: dict[str, Row] = field(default_factory=dict)
    # key → ids holding it, as an insertion-ordered set: removal stays O(1) even for a very common key
    postings: dict[str, dict[str, None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def upsert(self, record_id: str, values: Mapping[str, JsonValue]) -> None:
        self.upsert_row(record_id, self.spec.project(values))

    def upsert_row(self, record_id: str, row: Row) -> None:
        old = self.rows.get(record_id)
        if old == row:
            return  # most golden updates touch no matched field: nothing to re-key
        if old is not None:
            self.remove(record_id)
        self.rows[record_id] = row
        for key in set(self.spec.block_keys(row)):
            self.postings.setdefault(key, {})[record_id] = None

    def remove(self, record_id: str) -> None:
        row = self.rows.pop(record_id, None)
        if row is None:
            return
        for key in set(self.spec.block_keys(row)):
            ids = self.postings.get(key)
            if ids is not None and record_id in ids:
                del ids[record_id]
                if not ids:
                    del self.postings[key]

    def rebuild(self, records: Iterable[tuple[str, Mapping[str, JsonValue]]]) -> None:
        self.rows.clear()
        self.postings.clear()
        for record_id, values in records:
            self.upsert(record_id, values)

    def check(self, values: Mapping[str, JsonValue], exclude: str | None = None) -> CheckResult:
        return self.check_row(self.spec.project(values), exclude)

    def check_row(self, row: Row, exclude: str | None = None) -> CheckResult:
        found = self._candidates(row, exclude)
        model, floor = self.model, self.settings.review_threshold
        decisions = []
        for cid in found:  # evidence is built only for the few candidates worth reporting
            other = self.rows[cid]
            gammas = model.gammas(row, other)
            if model.score(gammas) >= floor:
                decisions.append(explain(model, self.settings, PROBE_ID, row, cid, other, gammas))
        ranked = sorted(decisions, key=lambda d: -d.score)
        outcome = ranked[0].outcome if ranked else Outcome.NEW
        if outcome is Outcome.LINK and len(ranked) > 1 and ranked[1].outcome is Outcome.LINK:
            # Two existing customers both look like this one: linking to either could be a false merge.
            ranked[0] = ranked[0].with_outcome(Outcome.REVIEW, f"also matches {ranked[1].right_id}")
            outcome = Outcome.REVIEW
        return CheckResult(outcome, tuple(ranked), len(found))

    def _candidates(self, row: Row, exclude: str | None) -> list[str]:
        # Rare keys first: a tax id or domain names one customer, a phonetic name key may name many.
        lists = sorted((self.postings.get(k, {}) for k in set(self.spec.block_keys(row))), key=len)
        seen: dict[str, None] = {}
        for ids in lists:
            if len(ids) > self.settings.max_block:
                break
            for cid in ids:
                if cid != exclude:
                    seen[cid] = None
            if len(seen) >= self.max_candidates:
                break
        return list(seen)[: self.max_candidates]
