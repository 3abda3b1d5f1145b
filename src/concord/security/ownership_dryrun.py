"""Dry-run of an ownership rule change: replay recent changes through the rules in force and the proposed ones.

Pure: the caller reads the change_log rows. Each replayed field is classified the way the gate would treat it
on a record that does not yet hold the field — accepted (its owner wrote it), rejected (owner_only), pending
(approval: a steward decides) or accepted_if_empty (fill_if_empty). The value a record already holds can only
turn an outcome into "unchanged", which says nothing about the rules, so it is left out. Only fields whose
outcome differs are listed, per change; the per-system totals show the overall shift.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from concord.mappings.registry import MappingSet
from concord.ownership.gate import STEWARD
from concord.ownership.policy import FieldRule, OwnershipMode, RuleIndex
from concord.security.dryrun import canonical_values

OUTCOMES = ("accepted", "rejected", "pending", "accepted_if_empty")


def outcome(rule: FieldRule, system: str) -> str:
    """What the gate does with a write of `system` under `rule` (a steward's write is an approved one)."""
    if system in (rule.owner, STEWARD):
        return "accepted"
    return {OwnershipMode.OWNER_ONLY: "rejected", OwnershipMode.APPROVAL: "pending",
            OwnershipMode.FILL_IF_EMPTY: "accepted_if_empty"}[rule.mode]


def _judge(rules: RuleIndex, row: dict[str, Any], path: str) -> str | None:
    try:
        return outcome(rules.rule_for(row["tenant"], row["entity"], path), row["system"])
    except KeyError:  # a path no rule covers (a reference the mapping adds): the gate never sees it either
        return None


def replay(mappings: MappingSet, old: RuleIndex, new: RuleIndex, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-level differences per replayed change and the outcome totals per system under both rule sets."""
    totals: dict[str, dict[str, Counter[str]]] = {}
    diffs: list[dict[str, Any]] = []
    for row in rows:
        values = canonical_values(mappings, row)
        if values is None:
            continue
        counts = totals.setdefault(row["system"], {"old": Counter(), "new": Counter()})
        fields: dict[str, dict[str, str]] = {}
        for path in sorted(values):
            before, after = _judge(old, row, path), _judge(new, row, path)
            if before is None or after is None:
                continue
            counts["old"][before] += 1
            counts["new"][after] += 1
            if before != after:
                fields[path] = {"old": before, "new": after}
        if fields:
            diffs.append({"change_id": row["change_id"], "tenant": row["tenant"], "system": row["system"],
                          "entity": row["entity"], "canonical_id": row["canonical_id"], "fields": fields})
    per_system = {system: {side: {o: counts[side][o] for o in OUTCOMES} for side in ("old", "new")}
                  for system, counts in sorted(totals.items())}
    return {"replayed": len(rows), "differing": len(diffs), "old_version": old.policy.version,
            "new_version": new.policy.version, "systems": per_system, "changes": diffs}
