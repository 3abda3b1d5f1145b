"""Settings of one Tryton connection: server, database, user, credential, company and timeouts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from concord.connectors.runtime.http import HttpSettings
from concord.connectors.runtime.retry import RetryPolicy

SYSTEM = "tryton"


class TrytonConfig(BaseModel):
    """Where and as whom to call Tryton's JSON-RPC (`POST {url}/{database}/rpc/`).

    Give either `password` or `password_ref`, a reference resolved at login time and never stored here:
    `env:VARIABLE`, `file:/path/to/secret`, or any scheme the injected resolver understands.
    `company_id` goes into the context of every call: company-dependent values (credit limit, receivable,
    accounts) are read and written per company, and without it Tryton stores them company-less.
    """

    model_config = ConfigDict(frozen=True)

    url: str = Field(pattern=r"^https?://", description="server base URL, e.g. http://127.0.0.1:8000")
    database: str = Field(min_length=1)
    user: str = Field(default="admin", min_length=1)
    password: SecretStr | None = None
    password_ref: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*:.+")
    company_id: int = Field(gt=0)
    language: str = "en"
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    # Tryton's create/write take lists; one call per batch keeps a transaction per batch.
    batch_size: int = Field(default=100, ge=1, le=1000)
    page_size: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_credential(self) -> TrytonConfig:
        if (self.password is None) == (self.password_ref is None):
            raise ValueError("set exactly one of password or password_ref")
        return self

    @property
    def rpc_url(self) -> str:
        return f"{self.url.rstrip('/')}/{self.database}/rpc/"
