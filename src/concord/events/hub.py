"""Wiring: the configured log backend, and one runner per subscription in events.yaml (factories only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import httpx
from pydantic import Field, HttpUrl, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from concord.events.analytics import AnalyticsSink
from concord.events.consumer import Backoff, Subscriber, SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.envelope import EventEnvelope, EventLog
from concord.events.registry import SchemaRegistry
from concord.events.routing import (
    AnalyticsTarget,
    ConnectorCommandTarget,
    RoutingConfig,
    SubscriptionConfig,
    WebhookTarget,
    WorkflowSignalTarget,
    matches,
)
from concord.events.subscribers import ConnectorCommandSubscriber, WorkflowSignalSubscriber
from concord.events.webhooks import WebhookSubscriber


class EventSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_EVENTS_", extra="ignore")

    backend: Literal["embedded", "nats"] = "embedded"
    partitions: int = Field(default=16, ge=1, le=1024)
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "CONCORD_EVENTS"
    nats_subject_prefix: str = "concord.events"
    ack_wait_s: float = Field(default=30.0, gt=0)
    offset_commit_interval_s: float = Field(default=0.2, ge=0, description="embedded: save positions this often")


class MissingSecret(ValueError):
    pass


def open_log(settings: EventSettings, engine: Engine) -> EventLog:
    if settings.backend == "nats":
        from concord.events.nats_log import NatsLog

        return NatsLog(settings.nats_url, settings.nats_stream, settings.nats_subject_prefix, settings.partitions,
                       settings.ack_wait_s)
    return EmbeddedLog(engine, settings.partitions, settings.ack_wait_s,
                       commit_interval_s=settings.offset_commit_interval_s)


def _webhook(name: str, target: WebhookTarget, http: httpx.Client,
             environ: Mapping[str, str]) -> WebhookSubscriber | None:
    """The webhook subscriber, or None for an optional one whose URL or secret variable is unset."""
    url = str(target.url) if target.url is not None else environ.get(target.url_env or "", "")
    secret = environ.get(target.secret_env)
    for variable, value in ((target.url_env, url), (target.secret_env, secret)):
        if variable and not value:
            if target.optional:
                return None
            raise MissingSecret(f"subscription {name}: environment variable {variable} is not set")
    if target.url is None:
        try:  # a URL from the environment is checked as strictly as one in the file
            url = str(TypeAdapter(HttpUrl).validate_python(url))
        except ValidationError as exc:
            raise MissingSecret(f"subscription {name}: {target.url_env} is not a URL: {url!r}") from exc
    assert secret is not None
    return WebhookSubscriber(name, target, secret.encode(), http, url=url)


def build_subscriber(name: str, config: SubscriptionConfig, http: httpx.Client,
                     environ: Mapping[str, str]) -> Subscriber | None:
    """The subscriber of a subscription; None when it is an optional webhook this deployment does not enable."""
    target = config.subscriber
    if isinstance(target, WebhookTarget):
        return _webhook(name, target, http, environ)
    if isinstance(target, ConnectorCommandTarget):
        return ConnectorCommandSubscriber(target)
    if isinstance(target, WorkflowSignalTarget):
        return WorkflowSignalSubscriber(target, name)
    assert isinstance(target, AnalyticsTarget)
    return AnalyticsSink(target.directory, target.max_rows_per_file)


def build_runner(name: str, config: SubscriptionConfig, log: EventLog, engine: Engine, registry: SchemaRegistry,
                 subscriber: Subscriber) -> SubscriptionRunner:
    def accepts(event: EventEnvelope) -> bool:
        return matches(config, event)

    return SubscriptionRunner(name=name, log=log, engine=engine, subscriber=subscriber, registry=registry,
                              accepts=accepts, max_attempts=config.max_attempts,
                              backoff=Backoff(config.backoff_base_s, config.backoff_max_s), lanes=config.lanes)


def build_runners(routing: RoutingConfig, log: EventLog, engine: Engine, registry: SchemaRegistry,
                  http: httpx.Client, environ: Mapping[str, str] | None = None) -> dict[str, SubscriptionRunner]:
    env = os.environ if environ is None else environ
    runners: dict[str, SubscriptionRunner] = {}
    for name, cfg in routing.subscriptions.items():
        subscriber = build_subscriber(name, cfg, http, env)
        if subscriber is not None:
            runners[name] = build_runner(name, cfg, log, engine, registry, subscriber)
    return runners
