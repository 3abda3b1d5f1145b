"""Connector credentials: encrypted at rest under envelope keys, master key rotation, Vault, the CLI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from concord.cli.main import build
from concord.connectors.stripe.auth import resolve_secret
from concord.security.secrets import (
    Keyring,
    SecretError,
    SecretStore,
    new_master_key,
    parse_master_key,
    secret_resolver,
)
from concord.security.vault import VaultReader
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade

VALUE = "sk_live_PlainTextCredential_0123456789"


def ring(*keys: str) -> Keyring:
    return Keyring([parse_master_key(k) for k in keys])


def test_values_are_encrypted_and_bound_to_their_name(sqlite_engine: Engine) -> None:
    store = SecretStore(sqlite_engine, ring(new_master_key()))
    store.set("stripe/default", VALUE, "ops")
    store.set("stripe/other", VALUE, "ops")
    assert store.get("stripe/default") == VALUE
    with sqlite_engine.begin() as conn:
        rows = conn.execute(text("SELECT name, wrapped_key, ciphertext FROM secrets ORDER BY name")).all()
        assert VALUE not in str(rows) and rows[0].ciphertext != rows[1].ciphertext
        # a ciphertext moved onto another name does not decrypt (the name is authenticated data)
        conn.execute(text("UPDATE secrets SET wrapped_key = :w, ciphertext = :c WHERE name = 'stripe/other'"),
                     {"w": rows[0].wrapped_key, "c": rows[0].ciphertext})
    with pytest.raises(SecretError, match="does not decrypt"):
        store.get("stripe/other")
    with pytest.raises(SecretError, match="no secret named"):
        store.get("nope")


def test_rotation_rewraps_under_the_new_key_while_old_keys_still_decrypt(sqlite_engine: Engine) -> None:
    old, new = new_master_key(), new_master_key()
    SecretStore(sqlite_engine, ring(old)).set("hubspot/token", VALUE, "ops")
    both = SecretStore(sqlite_engine, ring(new, old))
    assert both.get("hubspot/token") == VALUE  # before rotation: the old key still decrypts
    assert both.rotate("ops") == 1 and both.rotate("ops") == 0
    assert SecretStore(sqlite_engine, ring(new)).get("hubspot/token") == VALUE  # the old key can now be dropped
    with pytest.raises(SecretError, match="not configured"):
        SecretStore(sqlite_engine, ring(old)).get("hubspot/token")


def test_keyring_from_environment_or_file(tmp_path: Path) -> None:
    first, second = new_master_key(), new_master_key()
    key_file = tmp_path / "master.keys"
    key_file.write_text(f"{second}\n")
    keyring = Keyring.from_settings(Settings(master_key=SecretStr(first), master_key_file=key_file))
    assert [k.id for k in keyring.keys] == [parse_master_key(first).id, parse_master_key(second).id]
    with pytest.raises(SecretError, match="32 bytes"):
        parse_master_key("c2hvcnQ=")
    with pytest.raises(SecretError, match="CONCORD_MASTER_KEY"):
        Keyring.from_settings(Settings())


class FakeVault(BaseHTTPRequestHandler):
    """Vault's KV v2 read endpoint, as hvac calls it."""

    token = "s.vault-test-token"
    data = {"apps/stripe": {"api_key": VALUE}}

    def do_GET(self) -> None:
        path = self.path.split("?")[0].removeprefix("/v1/secret/data/")
        if self.headers.get("X-Vault-Token") != self.token:
            self._answer(403, {"errors": ["permission denied"]})
        elif path not in self.data:
            self._answer(404, {"errors": []})
        else:
            self._answer(200, {"data": {"data": self.data[path], "metadata": {"version": 1, "deletion_time": ""}}})

    def _answer(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def vault_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_vault_reader_and_the_connector_resolver(vault_url: str, sqlite_engine: Engine,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    vault = VaultReader.from_env({"VAULT_ADDR": vault_url, "VAULT_TOKEN": FakeVault.token})
    assert vault is not None and vault("apps/stripe#api_key") == VALUE
    with pytest.raises(SecretError, match="no field"):
        vault("apps/stripe#password")
    with pytest.raises(SecretError, match="cannot read"):
        vault("apps/missing#x")
    with pytest.raises(SecretError, match="cannot read"):
        VaultReader(vault_url, "s.wrong")("apps/stripe#api_key")
    assert VaultReader.from_env({}) is None
    store = SecretStore(sqlite_engine, ring(new_master_key()))
    store.set("zendesk/token", "zd-secret", "ops")
    monkeypatch.setenv("CONCORD_TEST_SECRET", "from-env")
    resolve = secret_resolver(store, vault, fallback=resolve_secret)
    assert resolve("secret:zendesk/token") == "zd-secret"
    assert resolve("vault:apps/stripe#api_key") == VALUE
    assert resolve("env:CONCORD_TEST_SECRET") == "from-env"


def test_cli_set_list_rotate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    old, new = new_master_key(), new_master_key()
    runner = CliRunner()
    env = {"CONCORD_DATABASE_URL": url, "CONCORD_MASTER_KEY": old}
    stored = runner.invoke(build(), ["secrets", "set", "stripe/default"], input=VALUE, env=env)
    assert stored.exit_code == 0, stored.output
    assert "stripe/default" in runner.invoke(build(), ["secrets", "list"], env=env).output
    rotated = runner.invoke(build(), ["secrets", "rotate"], env={**env, "CONCORD_MASTER_KEY": f"{new},{old}"})
    assert rotated.exit_code == 0 and "1 secrets re-encrypted" in rotated.output
    engine = make_engine(url)
    upgrade(engine)
    assert SecretStore(engine, ring(new)).get("stripe/default") == VALUE
    engine.dispose()
    missing = runner.invoke(build(), ["secrets", "list"], env={"CONCORD_DATABASE_URL": url})
    assert missing.exit_code == 2 and "CONCORD_MASTER_KEY" in missing.output
    assert VALUE not in stored.output + rotated.output
