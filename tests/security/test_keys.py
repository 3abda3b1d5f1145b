"""API keys: hashed at rest, shown once, expiring, rotating with an overlap window, revocable; roles."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from concord.cli import common
from concord.cli.identity import login_actor
from concord.cli.main import build
from concord.security.audit_query import AuditFilter, entries
from concord.security.keys import authenticate, create_key, list_keys, revoke_key, rotate_key
from concord.security.scopes import ROLES, Scope
from concord.storage.engine import make_engine
from tests.security.conftest import TENANT_A, World
from tests.security.support import bearer


def test_key_is_stored_only_as_a_hash_and_authenticates(engine: Engine) -> None:
    with engine.begin() as conn:
        issued = create_key(conn, tenant="default", name="dana", scopes=ROLES["steward"], actor="root", role="steward")
    secret = issued.token.split("_", 2)[2]  # the secret itself may hold "_" (URL-safe base64)
    with engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row)
        principal = authenticate(conn, issued.token)
        assert authenticate(conn, issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")) is None
        assert authenticate(conn, "Bearer nonsense") is None
    assert secret not in stored and issued.token not in stored
    assert principal is not None and principal.actor == "dana" and principal.tenant == "default"
    assert principal.allows(Scope.APPROVALS_DECIDE) and not principal.allows(Scope.MAPPINGS_APPROVE)


def test_expired_key_is_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        issued = create_key(conn, tenant="default", name="x", scopes=ROLES["viewer"], actor="root", ttl_s=60)
        assert authenticate(conn, issued.token) is not None
        assert authenticate(conn, issued.token, now=time.time() + 61) is None


def test_rotated_key_works_during_the_overlap_and_not_after(engine: Engine) -> None:
    now = time.time()
    with engine.begin() as conn:
        old = create_key(conn, tenant="default", name="ci", scopes=ROLES["operator"], actor="root", now=now)
        new = rotate_key(conn, old.id, "root", overlap_s=3600, now=now)
        assert new.scopes == old.scopes and new.id != old.id
        assert authenticate(conn, old.token, now=now + 3599) is not None
        assert authenticate(conn, new.token, now=now + 3599) is not None
        assert authenticate(conn, old.token, now=now + 3601) is None
        assert authenticate(conn, new.token, now=now + 10 * 86400) is not None
        [old_record] = [k for k in list_keys(conn, "default") if k.id == old.id]
        assert old_record.replaced_by == new.id


def test_revoked_key_is_refused_at_once(engine: Engine) -> None:
    with engine.begin() as conn:
        issued = create_key(conn, tenant="default", name="x", scopes=ROLES["viewer"], actor="root")
        revoke_key(conn, issued.id, "root")
        assert authenticate(conn, issued.token) is None
        with pytest.raises(LookupError):
            rotate_key(conn, issued.id, "root", overlap_s=10)


def test_keys_over_http(world: World) -> None:
    admin = bearer(world.admin_a)
    created = world.client.post("/api/v1/keys", json={"name": "viewer-1", "role": "viewer", "ttl_days": 1},
                                headers=admin)
    assert created.status_code == 201, created.text
    token = created.json()["key"]
    assert created.json()["tenant"] == TENANT_A
    assert world.client.get("/api/v1/approvals", headers=bearer(token)).status_code == 200
    refused = world.client.post("/api/v1/keys", json={"name": "x", "role": "viewer"}, headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["scope"] == "admin"
    listed = world.client.get("/api/v1/keys", headers=admin).json()
    assert all("key" not in k and k["tenant"] == TENANT_A for k in listed)
    assert {"viewer-1", "admin-a"} <= {k["name"] for k in listed}
    rotated = world.client.post(f"/api/v1/keys/{created.json()['id']}/rotate", json={"overlap_hours": 0},
                                headers=admin)
    assert rotated.status_code == 201
    assert world.client.get("/api/v1/approvals", headers=bearer(token)).status_code == 401
    new_token = rotated.json()["key"]
    assert world.client.get("/api/v1/approvals", headers={"X-API-Key": new_token}).status_code == 200
    revoked = world.client.post(f"/api/v1/keys/{rotated.json()['id']}/revoke", headers=admin)
    assert revoked.json()["status"] == "revoked"
    assert world.client.get("/api/v1/approvals", headers={"X-API-Key": new_token}).status_code == 401
    bad = world.client.post("/api/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "scopes"


def test_keys_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setattr(common.console, "width", 250)
    runner = CliRunner()
    app = build()
    created = runner.invoke(app, ["keys", "create", "--name", "ops", "--role", "operator"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    key_id = token.split("_")[1]
    assert key_id in runner.invoke(app, ["keys", "list"]).output
    rotated = runner.invoke(app, ["keys", "rotate", key_id, "--overlap-hours", "1"])
    assert rotated.exit_code == 0 and rotated.output.strip().splitlines()[-1].startswith("concord_")
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    listing = runner.invoke(app, ["keys", "list"]).output
    assert "revoked" in listing and token not in listing
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "root"])
    assert bad.exit_code == 2 and "--scope" in bad.output


def test_cli_actor_is_the_key_or_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No typed-in actor: the audit trail shows the --key's name (CONCORD_API_KEY too) or cli:<login>; a key's
    scopes and tenant bind the command as they bind the API."""
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    runner = CliRunner()
    app = build()
    first = runner.invoke(app, ["keys", "create", "--name", "tenant-admin", "--role", "admin"])
    tenant_admin = first.output.strip().splitlines()[-1]
    claimed = runner.invoke(app, ["keys", "create", "--name", "x", "--role", "viewer", "--actor", "root"])
    assert claimed.exit_code == 2 and "--actor" in claimed.output
    made = runner.invoke(app, ["keys", "create", "--name", "viewer", "--role", "viewer", "--key", tenant_admin])
    assert made.exit_code == 0, made.output
    viewer = made.output.strip().splitlines()[-1]
    foreign = runner.invoke(app, ["keys", "create", "--name", "y", "--role", "viewer", "--tenant", "acme-eu"],
                            env={"CONCORD_API_KEY": tenant_admin})
    assert foreign.exit_code == 2 and "tenant 'acme-eu'" in foreign.output
    weak = runner.invoke(app, ["keys", "revoke", viewer.split("_")[1], "--key", viewer])
    assert weak.exit_code == 2 and "'admin'" in weak.output
    forged = runner.invoke(app, ["keys", "revoke", viewer.split("_")[1], "--key", "concord_x_y"])
    assert forged.exit_code == 2 and "not a valid" in forged.output
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as conn:
        actors = [e["actor"] for e in entries(conn, AuditFilter(limit=10)) if e["action"] == "key.created"]
    engine.dispose()
    assert sorted(actors) == sorted([login_actor(), "tenant-admin"])
