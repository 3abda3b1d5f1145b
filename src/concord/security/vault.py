"""Reading secrets from HashiCorp Vault (KV version 2) through hvac: references `vault:PATH#FIELD`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hvac  # type: ignore[import-untyped]

from concord.security.secrets import SecretError


class VaultReader:
    def __init__(self, url: str, token: str, mount_point: str = "secret", timeout_s: float = 10.0) -> None:
        self._client = hvac.Client(url=url, token=token, timeout=timeout_s)
        self._mount = mount_point

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> VaultReader | None:
        """Vault's own variables (VAULT_ADDR, VAULT_TOKEN); None when Vault is not configured."""
        url, token = environ.get("VAULT_ADDR"), environ.get("VAULT_TOKEN")
        if not url or not token:
            return None
        return cls(url, token, environ.get("CONCORD_VAULT_MOUNT", "secret"))

    def __call__(self, target: str) -> str:
        path, _, field = target.partition("#")
        if not path or not field:
            raise SecretError(f"vault reference {target!r} must be PATH#FIELD")
        try:
            answer: dict[str, Any] = self._client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self._mount, raise_on_deleted_version=True)
        except hvac.exceptions.VaultError as exc:
            # hvac's message carries Vault's errors, never the token; the path is not secret.
            raise SecretError(f"vault: cannot read {path!r}: {type(exc).__name__}") from exc
        data = answer.get("data", {}).get("data", {})
        if field not in data:
            raise SecretError(f"vault: {path!r} has no field {field!r}")
        return str(data[field])
