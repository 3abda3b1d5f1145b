"""Customer lifecycle states and the transitions Concord allows between them."""

from __future__ import annotations

from enum import StrEnum


class LifecycleState(StrEnum):
    PROSPECT = "prospect"
    QUALIFIED = "qualified"
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    CREDIT_HOLD = "credit_hold"
    SUSPENDED = "suspended"
    CLOSED = "closed"


S = LifecycleState

# prospect → qualified → onboarding → active ⇄ credit_hold → suspended → closed. A lost lead may close early;
# a suspended customer may be reinstated; closed is terminal (a returning customer is a new prospect record).
ALLOWED_TRANSITIONS: dict[LifecycleState, frozenset[LifecycleState]] = {
    S.PROSPECT: frozenset({S.QUALIFIED, S.CLOSED}),
    S.QUALIFIED: frozenset({S.ONBOARDING, S.PROSPECT, S.CLOSED}),
    S.ONBOARDING: frozenset({S.ACTIVE, S.CLOSED}),
    S.ACTIVE: frozenset({S.CREDIT_HOLD, S.SUSPENDED}),
    S.CREDIT_HOLD: frozenset({S.ACTIVE, S.SUSPENDED}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.CLOSED}),
    S.CLOSED: frozenset(),
}


class IllegalTransition(ValueError):
    """A lifecycle move the state machine forbids; the API answers 409."""

    def __init__(self, current: LifecycleState, target: LifecycleState | None) -> None:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (terminal)"
        if target is None:
            super().__init__(f"lifecycle_state cannot be cleared (it is {current}); allowed from {current}: {allowed}")
        else:
            super().__init__(f"illegal lifecycle transition {current} → {target}; allowed from {current}: {allowed}")
        self.current = current
        self.target = target


def check_transition(current: LifecycleState | None, target: LifecycleState | None) -> None:
    """Raise IllegalTransition unless `current → target` is allowed. A new record may start in any state
    (a backfill imports customers as they are); staying in the same state is a no-op, not a transition."""
    if current is None or current == target:
        return
    if target is None or target not in ALLOWED_TRANSITIONS[current]:
        raise IllegalTransition(current, target)
