"""Acceptance: after flows that use credentials — connectors authenticating against the twins with secrets
from the encrypted store (including an OAuth token grant), API calls with keys, secret rotation — neither the
SQLite files nor any captured log line contain a credential in clear."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.api.app import create_app
from concord.connectors.stripe import StripeClient, StripeConnector
from concord.connectors.stripe.auth import resolve_secret
from concord.hubconfig import load_runtime
from concord.sandbox.salesforce import SalesforceTwinSettings
from concord.sandbox.salesforce.testing import running_twin as running_salesforce
from concord.security.secrets import Keyring, SecretStore, new_master_key, parse_master_key, secret_resolver
from concord.settings import Settings
from tests.connectors.salesforce.support import build as salesforce_connector
from tests.connectors.salesforce.support import config_for as salesforce_config
from tests.connectors.stripe.support import config_for as stripe_config
from tests.connectors.stripe.support import running_twin as running_stripe
from tests.security.support import bearer, key_for


def _database_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _stripe_flow(store: SecretStore, api_key: str) -> None:
    with running_stripe(api_key=api_key) as twin:
        config = stripe_config(twin.url, api_key=None, api_key_ref="secret:stripe/default")
        resolver = secret_resolver(store, fallback=resolve_secret)
        connector = StripeConnector(config, StripeClient(config, resolver=resolver))
        created = connector.create("customer", {"name": "Secretive GmbH", "email": "a@secretive.example"},
                                   idempotency_key="cust-1")
        assert connector.read("customer", created.id) is not None


def _salesforce_flow(store: SecretStore, client_secret: str) -> str:
    """Returns the OAuth access token the twin granted, to look for it afterwards."""
    with running_salesforce(SalesforceTwinSettings(client_secret=client_secret)) as twin:
        config = salesforce_config(twin.base_url, client_secret=SecretStr(store.get("salesforce/client_secret")))
        connector = salesforce_connector(config)
        try:
            connector.create("Account", {"Name": "Secretive GmbH"}, idempotency_key="acc-1")
            return connector.client.auth.current().access_token  # type: ignore[attr-defined, no-any-return]
        finally:
            connector.close()


def test_no_credential_in_the_database_or_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "concord.db"
    old_master, new_master = new_master_key(), new_master_key()
    stripe_key = f"sk_test_{secrets.token_hex(16)}"
    sf_secret = f"sf-{secrets.token_hex(16)}"
    app = create_app(Settings(database_url=f"sqlite:///{db}", master_key=SecretStr(old_master)), load_runtime(None))
    with caplog.at_level(logging.DEBUG), TestClient(app) as client:
        engine = app.state.concord.engine
        store = SecretStore(engine, Keyring([parse_master_key(old_master)]))
        store.set("stripe/default", stripe_key, "ops")
        store.set("salesforce/client_secret", sf_secret, "ops")
        api_key = key_for(engine, name="flows")
        client.headers.update(bearer(api_key))
        _stripe_flow(store, stripe_key)
        access_token = _salesforce_flow(store, sf_secret)
        assert client.post("/api/v1/changes", json={
            "system": "salesforce", "entity": "account", "external_id": "001S", "fields": {"Name": "Secretive"},
            "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": "s1"}).status_code == 202
        assert client.get("/api/v1/audit").status_code == 200
        rotated = SecretStore(engine, Keyring([parse_master_key(new_master), parse_master_key(old_master)]))
        assert rotated.rotate("ops") == 2 and rotated.get("stripe/default") == stripe_key
        client.get("/api/v1/approvals", headers=bearer(api_key[:-2] + "xx"))  # a failed login is logged too
    stored = _database_bytes(db)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert len(access_token) > 10 and caplog.records  # the flows ran and logged
    assert b"001S" in stored and "sobjects/Account" in logged  # the grep does see the data and the log lines
    for name, value in [("stripe key", stripe_key), ("salesforce secret", sf_secret),
                        ("OAuth access token", access_token), ("API key", api_key),
                        ("API key secret", api_key.split("_", 2)[2]), ("master key", old_master)]:
        assert value.encode() not in stored, f"{name} found in the database file"
        assert value not in logged, f"{name} found in the logs"
