"""Starting the HubSpot twin on fake clocks and building connectors against it (tests and conformance)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from concord.connectors.hubspot import HubSpotConfig, HubSpotConnector
from concord.connectors.runtime.clock import Clock, ManualClock
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.connectors.runtime.retry import RetryPolicy
from concord.sandbox.common import ServerHandle, serve_in_thread
from concord.sandbox.hubspot import HubSpotTwinSettings, create_app
from concord.sandbox.hubspot.store import TwinStore

TOKEN = "pat-na1-11111111-2222-4333-8444-555555555555"
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
FAST_RETRY = RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.05, max_elapsed_s=120.0)


class SteppingClock(ManualClock):
    """A ManualClock whose every sleep moves time by at least 1 µs.

    At epoch-sized times a float cannot hold a step below ~2e-7 s, so `ManualClock.sleep(1e-7)` leaves
    the time unchanged, and `RateGovernor.acquire` (which sleeps exactly the computed refill time) then
    spins forever once a bucket is short by a rounding error. Real sleeps always move time.
    """

    def sleep(self, seconds: float) -> None:
        super().sleep(max(seconds, 1e-6))


@dataclass
class Twin:
    handle: ServerHandle
    store: TwinStore
    clock: ManualClock | None
    settings: HubSpotTwinSettings

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def stats(self) -> dict[str, object]:
        loaded: dict[str, object] = httpx.get(f"{self.base_url}/__twin__/stats").json()
        return loaded

    def reset(self) -> None:
        assert httpx.post(f"{self.base_url}/__twin__/reset").status_code == 200


@contextmanager
def running_twin(clock: ManualClock | None = None, **overrides: object) -> Iterator[Twin]:
    """The twin on `clock` (real time when None). Tests share a fake clock with the connector: the
    governor's sleeps then move the twin's rate window and record stamps too, so pacing costs no time."""
    values: dict[str, object] = {"access_token": TOKEN, **overrides}
    if clock is not None:
        values.update(clock=clock.monotonic, wall_clock=clock.time)
    settings = HubSpotTwinSettings.model_validate(values)
    app = create_app(settings)
    handle = serve_in_thread(app)
    try:
        yield Twin(handle, app.state.store, clock, settings)
    finally:
        handle.stop()


def config_for(base_url: str, **overrides: object) -> HubSpotConfig:
    values: dict[str, object] = {"base_url": base_url, "access_token": SecretStr(TOKEN), "retry": FAST_RETRY}
    values.update(overrides)
    return HubSpotConfig.model_validate(values)


def connector_for(base_url: str, clock: Clock | None = None, **overrides: object) -> HubSpotConnector:
    return HubSpotConnector(
        config_for(base_url, **overrides), clock=clock, recorder=InMemoryCallRecorder(), rng=random.Random(7)
    )
