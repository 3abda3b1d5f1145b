"""The online duplicate check as ingest uses it: before a new external record becomes a new customer, decide
link (bind to the existing customer), hold (a steward decides) or new — and the rows that record the decision.

Pure except for what the caller passes in: `bound` answers which systems a candidate is bound in (asked of the
database by the caller, never a cache: linking a second record of one system would be a false merge).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from concord.ids import new_id
from concord.matching.decision import MatchDecision, Outcome
from concord.matching.index import CheckResult

HELD_PREFIX = "ext:"  # right_id of a review whose right side is an incoming record, not yet a customer


def incoming_ref(system: str, external_id: str) -> str:
    return f"{HELD_PREFIX}{system}:{external_id}"


@dataclass(frozen=True)
class OnlineVerdict:
    """`link`: bind to `candidate`; `hold`: keep the change back for review `review_id`; `new`: create."""

    outcome: Outcome
    candidate: str | None = None
    decision: MatchDecision | None = None


def judge(result: CheckResult | None, system: str, bound: Callable[[str], set[str]]) -> OnlineVerdict:
    """Turn the index's answer into what ingest does. An auto-link onto a customer that already has a record
    in the same system is held instead: two records of one system are a duplicate inside that system."""
    if result is None or result.best is None or result.outcome is Outcome.NEW:
        return OnlineVerdict(Outcome.NEW)
    best = result.candidates[0]
    if result.outcome is Outcome.LINK:
        if system not in bound(best.right_id):
            return OnlineVerdict(Outcome.LINK, best.right_id, best)
        best = best.with_outcome(Outcome.REVIEW, f"{best.right_id} already has a {system} record")
    return OnlineVerdict(Outcome.REVIEW, best.right_id, best)


def review_row(tenant: str, entity: str, decision: MatchDecision, right_id: str, source: str, status: str,
               now: float | None = None) -> dict[str, Any]:
    """A `match_reviews` row: left is the existing customer, right the other side (`ext:…` when incoming)."""
    body = decision.to_json()
    return {"id": new_id(), "tenant": tenant, "entity": entity, "left_id": decision.right_id, "right_id": right_id,
            "score": decision.score, "outcome": decision.outcome.value, "reason": decision.reason,
            "evidence": orjson.dumps(body["evidence"]).decode(), "source": source, "status": status,
            "created_at": time.time() if now is None else now, "decided_by": None, "decided_at": None}


def held_row(tenant: str, system: str, entity: str, external_id: str, review_id: str, change_id: str,
             request_json: str) -> dict[str, Any]:
    return {"id": new_id(), "tenant": tenant, "system": system, "entity": entity, "external_id": external_id,
            "review_id": review_id, "change_id": change_id, "request": request_json, "status": "held",
            "created_at": time.time(), "released_at": None}
