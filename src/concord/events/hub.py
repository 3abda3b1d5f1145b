"""Wiring: the configured log backend, and one runner per subscription in events.yaml (factories only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import httpx
from pydantic import Field
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


def build_subscriber(name: str, config: SubscriptionConfig, http: httpx.Client,
                     environ: Mapping[str, str]) -> Subscriber:
    target = config.subscriber
    if isinstance(target, WebhookTarget):
        secret = environ.get(target.secret_env)
        if not secret:
            raise MissingSecret(f"subscription {name}: environment variable {target.secret_env} is not set")
        return WebhookSubscriber(name, target, secret.encode(), http)
    if isinstance(target, ConnectorCommandTarget):
        return ConnectorCommandSubscriber(target)
    if isinstance(target, WorkflowSignalTarget):
        return WorkflowSignalSubscriber(target)
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
    return {name: build_runner(name, cfg, log, engine, registry, build_subscriber(name, cfg, http, env))
            for name, cfg in routing.subscriptions.items()}
