"""Settings of scale mode (CONCORD_SCALE_*), and the start-up errors that refuse a bad configuration."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScaleConfigError(RuntimeError):
    """A configuration the worker must not run with; the message names the setting and what to do."""


class ScaleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_SCALE_", extra="ignore")

    nats_urls: str = Field(default="nats://127.0.0.1:4222",
                           description="comma-separated NATS servers of the JetStream cluster")
    stream: str = Field(default="CONCORD_CHANGES", pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field(default="concord.changes", pattern=r"^[A-Za-z0-9_.-]+$")
    replicas: int = Field(default=1, ge=1, le=5, description="stream replicas (3 on a 3-node cluster)")
    partitions: int = Field(default=64, ge=1, le=4096, description="fixed for the life of a deployment")
    lease_ttl_s: float = Field(default=5.0, gt=0, description="a dead worker's partitions move after this")
    heartbeat_s: float = Field(default=1.0, gt=0)
    max_batch: int = Field(default=1000, ge=1, le=20_000, description="changes per group commit at most")
    fetch_per_partition: int = Field(default=256, ge=1)
    fetch_wait_s: float = Field(default=0.05, gt=0)
    redis_url: str | None = Field(default=None, description="shared rate governor; in-process when unset")
    worker_id: str | None = Field(default=None, description="unique per process; host:pid when unset")

    def server_list(self) -> list[str]:
        return [u.strip() for u in self.nats_urls.split(",") if u.strip()]

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def check(self) -> None:
        if self.heartbeat_s * 2 > self.lease_ttl_s:
            raise ScaleConfigError(f"CONCORD_SCALE_HEARTBEAT_S ({self.heartbeat_s}) must be at most half of "
                                   f"CONCORD_SCALE_LEASE_TTL_S ({self.lease_ttl_s}), or live workers lose leases")
        if not self.server_list():
            raise ScaleConfigError("CONCORD_SCALE_NATS_URLS is empty: name at least one NATS server")
