"""Shared test plumbing: a running Stripe twin and connectors pointed at it (or at a proxy in front of it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from concord.connectors.base import RateLimit
from concord.connectors.runtime.breaker import BreakerSettings
from concord.connectors.runtime.clock import Clock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.stripe import StripeClient, StripeConfig, StripeConnector
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.stripe import StripeTwinSettings, create_app
from concord.sandbox.stripe.runtime import StripeTwin

API_KEY = "sk_test_51ConcordConnectorTests00000000000000wxyz"
FAST_RETRY = RetryPolicy(max_attempts=10, base_delay_s=0.001, max_delay_s=0.01, max_elapsed_s=30.0)
# Injected faults must not trip the breaker in tests that are about retries, not about breakers.
LENIENT_BREAKER = BreakerSettings(failure_threshold=50, cooldown_s=0.05)


@dataclass
class Twin:
    handle: ServerHandle
    runtime: StripeTwin

    @property
    def url(self) -> str:
        return self.handle.base_url

    def customers(self) -> list[dict[str, Any]]:
        return [c for c in self.runtime.store.newest_first("customer") if not c.get("deleted")]


@contextmanager
def running_twin(**overrides: Any) -> Iterator[Twin]:
    settings = StripeTwinSettings.model_validate(
        {"api_key": API_KEY, "rate_limit_per_second": 100_000, **overrides}
    )
    app = create_app(settings)
    twin = Twin(serve_in_thread(app), app.state.twin)
    try:
        yield twin
    finally:
        twin.handle.stop()
        twin.runtime.close()


def config_for(base_url: str, **overrides: Any) -> StripeConfig:
    values: dict[str, Any] = {
        "base_url": base_url,
        "api_key": API_KEY,
        "rate_limit": RateLimit(requests=100_000, per_seconds=1.0),
        "retry": FAST_RETRY,
        "breaker": LENIENT_BREAKER,
        **overrides,
    }
    return StripeConfig.model_validate(values)


def connector_for(base_url: str, clock: Clock | None = None, **overrides: Any) -> StripeConnector:
    config = config_for(base_url, **overrides)
    return StripeConnector(config, StripeClient(config, clock=clock))
