"""Counters of every fault the proxy injected, served at `GET /__faults__/stats`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AppliedButFailed(BaseModel):
    """A write the upstream applied while the client was told it failed (or heard nothing)."""

    method: str
    path: str
    upstream_status: int
    client_saw: str


class WebhookStats(BaseModel):
    received: int = 0
    delivered: int = 0
    duplicated: int = 0
    held: int = 0
    released: int = 0
    delivery_errors: int = 0


class FaultStats(BaseModel):
    requests: int = 0
    matched: int = 0
    forwarded: int = 0
    rate_limited: int = 0
    server_errors: dict[str, int] = Field(default_factory=dict)
    timeouts: int = 0
    delayed: int = 0
    delay_ms_total: float = 0.0
    drops: dict[str, int] = Field(default_factory=dict)
    upstream_errors: int = 0
    # The number a test needs to prove exactly-once behaviour: effects the client could not know about.
    writes_applied_but_failed: int = 0
    applied_but_failed: list[AppliedButFailed] = Field(default_factory=list)
    webhooks: WebhookStats = Field(default_factory=WebhookStats)

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def applied(self, record: AppliedButFailed, keep: int) -> None:
        self.writes_applied_but_failed += 1
        self.applied_but_failed.append(record)
        del self.applied_but_failed[:-keep]
