"""Process settings from the environment (CONCORD_*); passed explicitly, never read at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="ignore")

    database_url: str = Field(default="sqlite:///concord.db",
                              description="sqlite:///path (default, WAL) or postgresql+psycopg://user@host/db")
    config_dir: Path | None = Field(default=None, description="folder with concord.yaml, ownership.yaml, "
                                                              "mappings/; the bundled defaults when unset")
    sqlite_synchronous: str = Field(default="FULL", pattern=r"^(FULL|NORMAL|EXTRA)$")
    max_batch: int = Field(default=512, ge=1, le=10_000, description="changes per group commit at most")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP collector URL; traces exported when set")
