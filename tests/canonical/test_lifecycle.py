"""The lifecycle state machine: every allowed edge passes, every other edge raises IllegalTransition."""

from __future__ import annotations

import itertools

import pytest

from concord.canonical.lifecycle import ALLOWED_TRANSITIONS, IllegalTransition, LifecycleState, check_transition

S = LifecycleState

# The documented table (prospect → qualified → onboarding → active ⇄ credit_hold → suspended → closed),
# written out independently of the implementation so that a changed edge fails here.
EXPECTED = {
    (S.PROSPECT, S.QUALIFIED), (S.PROSPECT, S.CLOSED),
    (S.QUALIFIED, S.ONBOARDING), (S.QUALIFIED, S.PROSPECT), (S.QUALIFIED, S.CLOSED),
    (S.ONBOARDING, S.ACTIVE), (S.ONBOARDING, S.CLOSED),
    (S.ACTIVE, S.CREDIT_HOLD), (S.ACTIVE, S.SUSPENDED),
    (S.CREDIT_HOLD, S.ACTIVE), (S.CREDIT_HOLD, S.SUSPENDED),
    (S.SUSPENDED, S.ACTIVE), (S.SUSPENDED, S.CLOSED),
}
FORBIDDEN = sorted((a, b) for a, b in itertools.product(S, S) if a != b and (a, b) not in EXPECTED)


def test_table_is_the_documented_one() -> None:
    actual = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert actual == EXPECTED
    assert set(ALLOWED_TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED))
def test_allowed_transition_passes(current: LifecycleState, target: LifecycleState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition_raises(current: LifecycleState, target: LifecycleState) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, target)
    assert (info.value.current, info.value.target) == (current, target)
    assert f"{current} → {target}" in str(info.value)


@pytest.mark.parametrize("state", list(S))
def test_new_record_may_start_anywhere_and_staying_is_no_transition(state: LifecycleState) -> None:
    check_transition(None, state)
    check_transition(state, state)


def test_message_lists_what_is_allowed_and_terminal_state() -> None:
    with pytest.raises(IllegalTransition, match=r"allowed from prospect: closed, qualified$"):
        check_transition(S.PROSPECT, S.ACTIVE)
    with pytest.raises(IllegalTransition, match=r"allowed from closed: none \(terminal\)$"):
        check_transition(S.CLOSED, S.PROSPECT)


def test_illegal_transition_is_a_value_error() -> None:
    # The API maps it to 409; callers that only know ValueError still catch it.
    assert issubclass(IllegalTransition, ValueError)
