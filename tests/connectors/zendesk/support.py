"""Helpers shared by the Zendesk connector tests and the conformance target: a running twin and a config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from pydantic import SecretStr

from concord.connectors.runtime.clock import ManualClock
from concord.connectors.runtime.retry import RetryPolicy
from concord.connectors.zendesk import ZendeskConfig
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.zendesk import ZendeskStore, ZendeskTwinSettings, create_app

EMAIL = "admin@concord.test"
API_TOKEN = "twin-api-token"
OAUTH_TOKEN = "twin-oauth-token"
START = 1_700_000_000.0


class FakeClock:
    """The twin's clock: epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StepClock(ManualClock):
    """A ManualClock whose every sleep moves time by at least a millisecond.

    At epoch magnitudes a float cannot hold a sub-microsecond step, and the rate governor can ask to sleep
    for less than that while a token bucket is a rounding error short of one token: a plain ManualClock
    then never advances and `RateGovernor.acquire` spins. A real clock always moves, so this one does too.
    """

    def sleep(self, seconds: float) -> None:
        super().sleep(max(seconds, 0.001))


@dataclass
class Twin:
    handle: ServerHandle
    app: FastAPI

    @property
    def store(self) -> ZendeskStore:
        store: ZendeskStore = self.app.state.store
        return store

    @property
    def url(self) -> str:
        return self.handle.base_url


@contextmanager
def running_twin(settings: ZendeskTwinSettings | None = None) -> Iterator[Twin]:
    app = create_app(settings or ZendeskTwinSettings())
    handle = serve_in_thread(app)
    try:
        yield Twin(handle, app)
    finally:
        handle.stop()


def token_config(base_url: str, **overrides: object) -> ZendeskConfig:
    """API-token auth against `base_url`, with quick retries so failing tests fail fast."""
    values: dict[str, object] = {
        "base_url": base_url,
        "email": EMAIL,
        "api_token": SecretStr(API_TOKEN),
        "retry": RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05),
        "job_poll_interval_s": 0.01,
    }
    values.update(overrides)
    return ZendeskConfig.model_validate(values)
