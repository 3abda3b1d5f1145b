"""What the fault proxy injects, as data, and the seeded draw that picks a fault for one request."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class WebhookPlan(BaseModel):
    """Webhook fan-out: duplicate and reorder deliveries on their way to a receiver."""

    model_config = ConfigDict(extra="forbid")

    duplicate_p: Probability = 0.0
    max_duplicates: int = Field(default=1, ge=1, le=10)
    reorder_p: Probability = 0.0
    # How many deliveries may be held back at once; a held one is released after 1..hold_back later ones.
    hold_back: int = Field(default=3, ge=1, le=1000)


class FaultPlan(BaseModel):
    """Probabilities are per matching request and mutually exclusive (one draw picks at most one fault).

    With `webhook` set the proxy is in fan-out mode: matching POSTs are deliveries to duplicate and reorder,
    and the request faults above do not apply to them.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    rate_limit_p: Probability = 0.0
    retry_after_s: int = Field(default=1, ge=0)
    error_p: Probability = 0.0
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503], min_length=1)
    timeout_p: Probability = 0.0
    # Hold the request longer than the client's timeout; the hold ends early when the client hangs up.
    timeout_hold_s: float = Field(default=30.0, ge=0)
    # Forward a timed-out request first, so a write takes effect although the client saw a timeout.
    timeout_forwards: bool = False
    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    drop_after_write_p: Probability = 0.0
    drop_statuses: list[int] = Field(default_factory=lambda: [502, 504], min_length=1)
    # Share of drops that cut the connection instead of answering with one of `drop_statuses`.
    drop_disconnect_p: Probability = 0.0
    only_writes: bool = False
    methods: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list, description="fnmatch patterns; empty matches every path")
    webhook: WebhookPlan | None = None

    @field_validator("error_statuses", "drop_statuses")
    @classmethod
    def _server_errors_only(cls, statuses: list[int]) -> list[int]:
        if any(not 500 <= status <= 599 for status in statuses):
            raise ValueError("injected statuses must be 5xx")
        return statuses

    @field_validator("methods")
    @classmethod
    def _upper(cls, methods: list[str]) -> list[str]:
        return [method.upper() for method in methods]

    @model_validator(mode="after")
    def _probabilities_fit(self) -> FaultPlan:
        total = self.rate_limit_p + self.error_p + self.timeout_p + self.drop_after_write_p
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities add up to {total:.3f} > 1")
        return self

    def matches(self, method: str, path: str) -> bool:
        method = method.upper()
        if self.only_writes and method not in WRITE_METHODS:
            return False
        if self.methods and method not in self.methods:
            return False
        return not self.paths or any(fnmatchcase(path, pattern) for pattern in self.paths)


class FaultKind(StrEnum):
    NONE = "none"
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    DROP_AFTER_WRITE = "drop_after_write"


@dataclass(frozen=True)
class Decision:
    kind: FaultKind
    delay_s: float = 0.0
    status: int | None = None
    disconnect: bool = False


def _delay(plan: FaultPlan, rng: random.Random) -> float:
    jitter = rng.uniform(0.0, plan.jitter_ms) if plan.jitter_ms > 0 else 0.0
    return (plan.latency_ms + jitter) / 1000.0


def decide(plan: FaultPlan, rng: random.Random, method: str) -> Decision:
    """Draw the fault for one matching request. Same seed and same request sequence → same faults."""
    delay = _delay(plan, rng)
    roll = rng.random()
    edge = plan.rate_limit_p
    if roll < edge:
        return Decision(FaultKind.RATE_LIMIT, delay, 429)
    edge += plan.error_p
    if roll < edge:
        return Decision(FaultKind.SERVER_ERROR, delay, rng.choice(plan.error_statuses))
    edge += plan.timeout_p
    if roll < edge:
        return Decision(FaultKind.TIMEOUT, delay, 504)
    edge += plan.drop_after_write_p
    if roll < edge and method.upper() in WRITE_METHODS:
        disconnect = plan.drop_disconnect_p > 0 and rng.random() < plan.drop_disconnect_p
        return Decision(FaultKind.DROP_AFTER_WRITE, delay, rng.choice(plan.drop_statuses), disconnect)
    return Decision(FaultKind.NONE, delay)
