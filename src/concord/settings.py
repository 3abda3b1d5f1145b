"""Process settings from the environment (CONCORD_*); passed explicitly, never read at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from concord.ingest.admission import DEFAULT_MAX_WAITING


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="ignore")

    database_url: str = Field(default="sqlite:///concord.db",
                              description="sqlite:///path (default, WAL) or postgresql+psycopg://user@host/db")
    config_dir: Path | None = Field(default=None, description="folder with concord.yaml, ownership.yaml, "
                                                              "mappings/; the bundled defaults when unset")
    sqlite_synchronous: str = Field(default="FULL", pattern=r"^(FULL|NORMAL|EXTRA)$")
    max_batch: int = Field(default=512, ge=1, le=10_000, description="changes per group commit at most")
    ingest_max_waiting: int = Field(default=DEFAULT_MAX_WAITING, ge=1, description="changes waiting for the "
                                    "writer beyond which the change API answers 503 with Retry-After")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "info"
    auth: str = Field(default="keys", pattern=r"^(keys|disabled)$",
                      description="keys: every API route needs an API key; disabled: everyone is the local admin "
                                  "(developer mode, only when set explicitly)")
    master_key: SecretStr | None = Field(default=None, description="base64 32-byte key(s) encrypting secrets at "
                                                                   "rest; comma-separated, newest first")
    master_key_file: Path | None = Field(default=None, description="file holding the master key(s), one a line")
    csrf_secret: SecretStr | None = Field(default=None, description="key signing console CSRF tokens "
                                                                    "(random per process when unset)")
    tls_cert: Path | None = Field(default=None, description="PEM certificate: serve HTTPS (with tls_key)")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")
    connections: Path | None = Field(default=None, description="connections YAML (`systems:`, regional endpoints: "
                                     "deploy/connectors.yaml.example): when set, `concord serve` also hosts the "
                                     "workflow runtime and its connectors, probes them in /readyz and charts their "
                                     "rate-limit headroom")
    sync: bool = Field(default=True, description="with `connections`, `concord serve` also runs the sync loop "
                       "(outbox delivery, `capture:` polling; decision 078); off when scale workers deliver, "
                       "and never run in scale mode")
    sync_idle_s: float = Field(default=0.2, gt=0, le=60, description="seconds the sync loop's delivery waits "
                               "when nothing was due")
    scale: bool = Field(default=False, description="scale mode: POST /changes publishes to the partitioned bus "
                                                   "(CONCORD_SCALE_* settings) and `concord worker`s apply it")
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP collector URL; traces exported when set")
    mapping_sync_s: float = Field(default=1.0, ge=0, le=3600, description=(
        "seconds between looks for mapping versions activated by another process (0: on every batch)"))
    headroom_sample_s: float = Field(default=15.0, gt=0, description="seconds between rate-limit headroom samples")
