"""Settings of the local Tryton server: where it lives, which modules it runs, how long sessions last."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MODULES: tuple[str, ...] = (
    "party",
    "company",
    "country",
    "currency",
    "account",
    "account_invoice",
    "account_credit_limit",
    "sale",
    "sale_credit_limit",
    "sale_opportunity",
    "sale_subscription",
)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "concord" / "tryton"


def _default_bin_dir() -> Path:
    # trytond's console scripts sit next to the interpreter of the venv that installed them.
    return Path(sys.executable).parent


class TrytonServerSettings(BaseModel):
    """Everything needed to build the template database and run `trytond` on loopback.

    `work_dir=None` means a fresh temporary directory per server, removed when it stops; `port=0` picks a
    free port at start. The template is keyed by everything that changes its content (modules, admin
    credentials, second company, trytond version, the setup code), so changing any of them builds a new one.
    """

    model_config = ConfigDict(frozen=True)

    work_dir: Path | None = None
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    db_name: str = Field(default="concord", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    admin_login: str = "admin"
    admin_password: str = Field(default="concord-admin", min_length=8)
    admin_email: str = "admin@example.com"
    modules: tuple[str, ...] = DEFAULT_MODULES
    company_currency: str = "USD"
    second_company: bool = True
    second_company_currency: str = "EUR"
    # Long test runs idle past the 300 s default and burn through the 5-attempt login limit.
    session_timeout_s: int = Field(default=24 * 3600, gt=0)
    session_max_attempt: int = Field(default=1000, gt=0)
    # Skip the DNS deliverability part of trytond's e-mail checks (see launch.py): results must not depend
    # on whether this machine can resolve MX records. Syntax checks stay on.
    offline_email: bool = True
    startup_timeout_s: float = Field(default=30.0, gt=0)
    build_timeout_s: float = Field(default=600.0, gt=0)
    bin_dir: Path = Field(default_factory=_default_bin_dir)

    @property
    def trytond_bin(self) -> Path:
        return self.bin_dir / "trytond"

    @property
    def trytond_admin_bin(self) -> Path:
        return self.bin_dir / "trytond-admin"
