"""Why is this customer blocked? A pure function of the facts the customer 360 gathers (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BLOCKING_STATES = {"credit_hold": "on credit hold", "suspended": "suspended", "closed": "closed"}


@dataclass(frozen=True)
class BlockedReason:
    code: str
    message: str
    system: str | None = None  # the system whose data or failure causes it


@dataclass
class CustomerFacts:
    lifecycle_state: str | None
    lifecycle_system: str | None
    credit_status: str | None
    credit_system: str | None
    pending_approvals: list[dict[str, Any]] = field(default_factory=list)
    failed_commands: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: list[dict[str, Any]] = field(default_factory=list)
    duplicate_reviews: list[dict[str, Any]] = field(default_factory=list)  # {"other", "score"}
    related: list[dict[str, Any]] = field(default_factory=list)  # {"entity", "id", "status", "system"}


def why_blocked(facts: CustomerFacts) -> list[BlockedReason]:
    """Every reason, most fundamental first; empty when nothing holds the customer up."""
    reasons: list[BlockedReason] = []
    state = facts.lifecycle_state
    if state in BLOCKING_STATES:
        reasons.append(BlockedReason("lifecycle", f"customer is {BLOCKING_STATES[state]}", facts.lifecycle_system))
    if facts.credit_status in ("hold", "review"):
        reasons.append(BlockedReason("credit", f"credit status is {facts.credit_status}", facts.credit_system))
    for r in facts.related:
        if r.get("status") in ("suspended", "past_due", "paused", "closed") and r["entity"] != "contract":
            reasons.append(BlockedReason(r["entity"], f"{r['entity'].replace('_', ' ')} {r['id']} is {r['status']}",
                                         r.get("system")))
    for task in facts.open_tasks:
        reasons.append(BlockedReason("task", f"{task.get('process')} waits at {task.get('step')}: "
                                             f"{task.get('message') or task.get('kind')}", task.get("system")))
    for cmd in facts.failed_commands:
        reasons.append(BlockedReason("sync", f"{cmd['type']} to {cmd['target']} failed: {cmd['last_error'] or '?'}",
                                     cmd["target"]))
    for letter in facts.dead_letters:
        reasons.append(BlockedReason("dead_letter", f"{letter['type']} stuck in {letter['subscription']}: "
                                                    f"{letter['error'][:200]}"))
    for review in facts.duplicate_reviews:
        reasons.append(BlockedReason("duplicate", f"possible duplicate of {review['other']} awaits a steward "
                                                  f"(score {review['score']:.2f})"))
    for a in facts.pending_approvals:
        reasons.append(BlockedReason("approval", f"{a['system']} change to {a['field']} awaits a steward",
                                     a["system"]))
    return reasons
