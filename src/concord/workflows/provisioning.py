"""Onboarding's last stage: identity (SCIM), support entitlement (Zendesk) and subscription (billing), run side by
side as three child workflows. Each is its own durable run with its own id (`<onboarding id>/<system>`), so one
system's refusal opens a task on that child while the other two finish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from concord.connectors.base import ConnectorError
from concord.connectors.runtime.writes import ExactlyOnceWriter
from concord.workflows.engine import services
from concord.workflows.journal import Workflow, workflow
from concord.workflows.runs import Cancelled, RunContext, until_accepted
from concord.workflows.steps import Rejection, connector_call, durable_step, rejection_of

CORRECTABLE = ["name", "admin_email", "plan_price", "seats", "support_tier"]


class ProvisionInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: RunContext  # the child run: its workflow id is where its tasks wake it
    name: str
    admin_email: str | None = None
    plan_price: str | None = None
    seats: int = 1
    support_tier: str = "standard"
    currency: str = "USD"

    def corrected(self, corrections: dict[str, Any]) -> ProvisionInput:
        return self.model_validate({**self.model_dump(), **corrections})


class ProvisionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    ids: dict[str, str] = Field(default_factory=dict)
    rejection: Rejection | None = None
    cancelled: bool = False


def _guarded(system: str, subject: str, action: Callable[[], dict[str, str]]) -> ProvisionResult:
    try:
        with connector_call():
            ids = action()
    except ConnectorError as error:
        return ProvisionResult(system=system, rejection=rejection_of(error))
    services().faults.after_effect(f"provision-{system}", subject)
    return ProvisionResult(system=system, ids=ids)


@durable_step("provision-scim")
def identity_step(data: ProvisionInput) -> ProvisionResult:
    """The customer's group and its administrator; both keyed by externalId, so a repeat finds them."""
    scim = services().connector("scim", data.run.tenant)
    key = data.run.customer_id

    def act() -> dict[str, str]:
        group = scim.create("Groups", {"displayName": data.name}, idempotency_key=f"{key}:customer")
        if not data.admin_email:
            return {"group": group.id}
        user = scim.create("Users", {"userName": data.admin_email, "active": True,
                                     "emails": [{"value": data.admin_email, "primary": True}]},
                           idempotency_key=f"{key}:admin")
        add_members = getattr(scim, "add_members", None)
        if callable(add_members):
            add_members(group.id, [user.id])
        return {"group": group.id, "user": user.id}

    return _guarded("scim", data.run.customer_id, act)


@durable_step("provision-zendesk")
def support_step(data: ProvisionInput) -> ProvisionResult:
    """The support organization with its entitlement tier (an upsert by external id: repeatable)."""
    zendesk = services().connector("zendesk", data.run.tenant)

    def act() -> dict[str, str]:
        org = zendesk.upsert("organizations", "external_id", data.run.customer_id,
                             {"name": data.name, "tags": [f"tier_{data.support_tier}", "onboarded"]})
        return {"organization": org.id}

    return _guarded("zendesk", data.run.customer_id, act)


@durable_step("provision-stripe")
def billing_step(data: ProvisionInput) -> ProvisionResult:
    """The billing customer and, when a plan was chosen, its subscription; Stripe idempotency keys derived
    from the run make a repeat return the first objects."""
    billing = services().connector("stripe", data.run.tenant)
    writer = ExactlyOnceWriter(billing)
    key = data.run.workflow_id

    def act() -> dict[str, str]:
        meta = {"concord_id": data.run.customer_id}
        fields = {"name": data.name, "metadata": meta, **({"email": data.admin_email} if data.admin_email else {})}
        customer = writer.create("customer", fields, idempotency_key=f"{key}:customer").record
        ids = {"customer": customer.id}
        if data.plan_price:
            sub = writer.create("subscription", {"customer": customer.id, "plan_price": data.plan_price,
                                                 "quantity": data.seats, "metadata": meta},
                                idempotency_key=f"{key}:subscription").record
            ids["subscription"] = sub.id
        return ids

    return _guarded("stripe", data.run.customer_id, act)


def _provision(name: str, data: ProvisionInput, step: Callable[[ProvisionInput], ProvisionResult]) -> ProvisionResult:
    try:
        result, _ = until_accepted(data.run, f"provision-{name}", step, data, CORRECTABLE)
    except Cancelled:
        return ProvisionResult(system=name, cancelled=True)
    return result


@workflow("onboard-provision-identity")
def provision_identity(data: ProvisionInput) -> ProvisionResult:
    return _provision("scim", data, identity_step)


@workflow("onboard-provision-support")
def provision_support(data: ProvisionInput) -> ProvisionResult:
    return _provision("zendesk", data, support_step)


@workflow("onboard-provision-billing")
def provision_billing(data: ProvisionInput) -> ProvisionResult:
    return _provision("stripe", data, billing_step)


CHILDREN: dict[str, Workflow[ProvisionInput, ProvisionResult]] = {
    "identity": provision_identity, "support": provision_support, "billing": provision_billing}
