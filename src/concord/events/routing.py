"""Subscriptions and routing rules (events.yaml): event types + a predicate → one subscriber.

Loaded like the rest of the configuration through concord.yamlconf, so a bad file is reported as
file:line: field: message. The bundled default lives in src/concord/defaults/events.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationInfo, field_validator, model_validator

from concord.events.envelope import EventEnvelope
from concord.hubconfig import bundled_config_dir
from concord.yamlconf import Located, load_yaml_file

ROUTING_FILE = "events.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_Strict):
    """Every listed condition must hold; a condition that is left out matches everything."""

    tenants: list[str] | None = None
    regions: list[str] | None = Field(default=None, description="tax region of the account, e.g. EU, US-CA")
    lifecycle_states: list[str] | None = Field(default=None, description="the lifecycle state the event sets")
    changed_fields: list[str] | None = Field(default=None, description="matches when any of these changed")
    source_systems: list[str] | None = Field(default=None, description="the system the change came from, e.g. "
                                                                       "salesforce")
    field_values: dict[str, list[str | int | float | bool | None]] | None = Field(
        default=None, description="field → accepted values: matches when every listed field is set to one of them "
                                  "by the event (e.g. {sales_stage: [closed_won]})")


class WebhookTarget(_Strict):
    """`url` in the file, or `url_env` naming the environment variable that holds it (per deployment). With
    `optional: true` the subscription is skipped while its URL or secret variable is unset, instead of refusing
    to start (a subscriber a deployment may or may not have, e.g. the customer-success tool)."""

    kind: Literal["webhook"]
    url: HttpUrl | None = None
    url_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$",
                                description="environment variable with the URL")
    secret_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="environment variable with the HMAC key")
    optional: bool = False
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give either url or url_env")
        return self


class ConnectorCommandTarget(_Strict):
    kind: Literal["connector_command"]
    system: str
    object: str
    fields: dict[str, str] = Field(min_length=1, description="target field → envelope path, e.g. data.after")


class WorkflowSignalTarget(_Strict):
    """A signal to the workflows: `signal: start` starts the process `workflow` for the event's customer.

    The start request is the event's tenant, customer (its customer key) and correlation id, plus `request`
    (request field → envelope path, e.g. `contract_id: data.canonical_id`) and `request_values` (constants, e.g.
    `activated_by: salesforce`). `otherwise` lists processes tried in order when the customer's lifecycle state
    does not allow the first; a start none of them may make is recorded as a dead letter with the reason
    (`on_refusal: record`) or only logged (`ignore`, for rules that fire on customers they do not concern)."""

    kind: Literal["workflow_signal"]
    workflow: str = Field(min_length=1)
    signal: str = Field(min_length=1)
    request: dict[str, str] = Field(default_factory=dict, description="request field → envelope path")
    request_values: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                                 description="request field → constant")
    otherwise: list[str] = Field(default_factory=list, description="processes tried next, in order")
    on_refusal: Literal["record", "ignore"] = "record"


class AnalyticsTarget(_Strict):
    kind: Literal["analytics"]
    directory: Path
    max_rows_per_file: int = Field(default=50_000, ge=1)


Target = Annotated[WebhookTarget | ConnectorCommandTarget | WorkflowSignalTarget | AnalyticsTarget,
                   Field(discriminator="kind")]


class SubscriptionConfig(_Strict):
    events: list[str] = Field(min_length=1, description='event types, or ["*"] for all')
    where: Where = Field(default_factory=Where)
    subscriber: Target
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=300.0, ge=0)
    lanes: int = Field(default=1, ge=1, le=64, description="customers delivered side by side (webhooks, analytics)")

    @field_validator("events")
    @classmethod
    def _known_types(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known: set[str] | None = (info.context or {}).get("event_types")
        for i, name in enumerate(value):
            if known is not None and name != "*" and name not in known:
                raise Located((i,), f"unknown event type {name!r}")
        return value


class RoutingConfig(_Strict):
    subscriptions: dict[str, Annotated[SubscriptionConfig, Field()]] = Field(default_factory=dict)

    @field_validator("subscriptions")
    @classmethod
    def _names(cls, value: dict[str, SubscriptionConfig]) -> dict[str, SubscriptionConfig]:
        for name in value:
            if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").isalnum():
                raise Located((name,), "subscription names use letters, digits, '-' and '_' (at most 100)")
        return value


def load_routing(config_dir: Path | None, event_types: set[str]) -> RoutingConfig:
    """events.yaml from the config folder, else the bundled default; problems name file and line."""
    path = (config_dir or bundled_config_dir()) / ROUTING_FILE
    if not path.exists():
        path = bundled_config_dir() / ROUTING_FILE
    return load_yaml_file(RoutingConfig, path, context={"event_types": event_types})


# -- the predicate -------------------------------------------------------------------------------------------
def _changed(data: dict[str, Any]) -> list[str]:
    if "changed_fields" in data:
        return list(data["changed_fields"])
    if "changes" in data:
        return list(data["changes"])
    return [data["field"]] if "field" in data else []


def _after(data: dict[str, Any], leaf: str) -> Any:
    """The value the event sets for a field whose path ends in `leaf` (change events and milestones)."""
    for path, change in data.get("changes", {}).items():
        if path.split(".")[-1] == leaf:
            return change.get("after")
    if str(data.get("field", "")).split(".")[-1] == leaf:
        return data.get("after")
    return data.get(leaf)


def matches(config: SubscriptionConfig, event: EventEnvelope) -> bool:
    if "*" not in config.events and event.type not in config.events:
        return False
    where = config.where
    if where.tenants is not None and event.tenant not in where.tenants:
        return False
    if where.regions is not None and _after(event.data, "region") not in where.regions:
        return False
    if where.lifecycle_states is not None and _after(event.data, "lifecycle_state") not in where.lifecycle_states:
        return False
    if where.source_systems is not None and event.data.get("source_system") not in where.source_systems:
        return False
    if where.field_values is not None and any(_after(event.data, name) not in accepted
                                              for name, accepted in where.field_values.items()):
        return False
    return where.changed_fields is None or bool(set(where.changed_fields) & set(_changed(event.data)))
