"""The lifecycle processes as `ProcessSpec`s (the same start/read path as onboarding, see processes.py): each
names its request model, its business-key workflow id, and the preflight that answers 404 for an unknown
customer and 409 for an illegal lifecycle transition before anything durable happens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from concord.canonical.lifecycle import IllegalTransition, LifecycleState, check_transition
from concord.storage import queries
from concord.workflows import activate_contract, billing_sync, closure, convert_lead, credit_hold, renewal
from concord.workflows.journal import Workflow
from concord.workflows.lifecycle_model import (
    ACTIVATE_CONTRACT,
    AMEND,
    APPLY_HOLD,
    CLOSE,
    CONVERT_LEAD,
    RELEASE_HOLD,
    RENEW,
    SUSPEND,
    SYNC_BILLING,
    ActivateContractRequest,
    AmendRequest,
    BillingSyncRequest,
    ConvertLeadRequest,
    CreditHoldRequest,
    GovernedRequest,
    workflow_id,
)
from concord.workflows.lifecycle_steps import pending_onboarding
from concord.workflows.processes import ProcessSpec, UnknownCustomer

S = LifecycleState


def _current_state(engine: Engine, request: Any) -> LifecycleState | None:
    with engine.connect() as conn:
        record = queries.golden_record(conn, request.customer_id)
    if record is None or record.tenant != request.tenant or record.entity != "account":
        raise UnknownCustomer(request.customer_id, request.tenant)
    current = record.value("lifecycle_state")
    return None if current is None else LifecycleState(str(current))


class NotAllowedInState(ValueError):
    """A process that needs the customer in another lifecycle state (the API answers 409, like a transition)."""

    def __init__(self, current: LifecycleState | None, what: str) -> None:
        super().__init__(f"{what} is not allowed while the customer is {current or 'without a lifecycle state'}")
        self.current = current


def _require(states: set[LifecycleState], what: str) -> Callable[[Engine, Any], None]:
    """The customer exists and is in one of `states` (a process that does not move the lifecycle itself)."""

    def check(engine: Engine, request: Any) -> None:
        current = _current_state(engine, request)
        if current not in states:
            raise NotAllowedInState(current, what)

    return check


def _may_enter(*targets: LifecycleState) -> Callable[[Engine, Any], None]:
    """The customer exists and may move to the first of `targets` (or, failing that, to the next one)."""

    def check(engine: Engine, request: Any) -> None:
        current = _current_state(engine, request)
        first_error: IllegalTransition | None = None
        for target in targets:
            try:
                check_transition(current, target)
                return
            except IllegalTransition as error:
                first_error = first_error or error
        assert first_error is not None
        raise first_error

    return check


def _activation_may_start(engine: Engine, request: Any) -> None:
    """An active customer's contract goes live. A won deal (`contract_id`) may also start while the customer's
    onboarding runs — the activation waits for it — unless that onboarding carries this very deal: it places the
    order itself (decision 076), so this start is refused and the routed rule's `otherwise` finds that run."""
    current = _current_state(engine, request)
    pending = None if request.contract_id is None else pending_onboarding(request.tenant, request.customer_id)
    if pending is not None and pending.contract_id == request.contract_id:
        raise NotAllowedInState(current, f"a separate activation (onboarding {pending.workflow_id} places this "
                                         "deal's order)")
    if pending is None and current not in {S.ACTIVE, S.CREDIT_HOLD}:
        raise NotAllowedInState(current, "a contract activation")


def _spec(name: str, request: type[Any], workflow: Workflow[Any, Any], preflight: Callable[[Engine, Any], None],
          target: LifecycleState | None = None) -> ProcessSpec:
    return ProcessSpec(name=name, request=request, workflow=workflow,
                       workflow_id=lambda r: workflow_id(name, r), preflight=preflight, target_state=target)


def lifecycle_specs() -> dict[str, ProcessSpec]:
    customers = {S.ACTIVE, S.CREDIT_HOLD}
    specs = [
        _spec(ACTIVATE_CONTRACT, ActivateContractRequest, activate_contract.activate_contract,
              _activation_may_start),
        _spec(CONVERT_LEAD, ConvertLeadRequest, convert_lead.convert_lead, _may_enter(S.QUALIFIED), S.QUALIFIED),
        _spec(RENEW, AmendRequest, renewal.renew_subscription, _require(customers, "a renewal")),
        _spec(AMEND, AmendRequest, renewal.amend_subscription, _require(customers, "an amendment")),
        _spec(APPLY_HOLD, CreditHoldRequest, credit_hold.apply_credit_hold, _may_enter(S.CREDIT_HOLD), S.CREDIT_HOLD),
        _spec(RELEASE_HOLD, CreditHoldRequest, credit_hold.release_credit_hold, _may_enter(S.ACTIVE), S.ACTIVE),
        _spec(SYNC_BILLING, BillingSyncRequest, billing_sync.sync_billing_status,
              _require({S.ONBOARDING, *customers, S.SUSPENDED}, "a billing-status sync")),
        _spec(SUSPEND, GovernedRequest, closure.suspend_account, _may_enter(S.SUSPENDED), S.SUSPENDED),
        _spec(CLOSE, GovernedRequest, closure.close_account, _may_enter(S.CLOSED, S.SUSPENDED), S.CLOSED),
    ]
    return {spec.name: spec for spec in specs}
