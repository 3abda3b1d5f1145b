"""Ownership rule changes: dry-run over recent traffic (accepted / rejected / pending per system), four eyes,
a version bump stored in ownership_versions, running processes following within a second, rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from concord.cli import common
from concord.cli.main import build
from concord.hubconfig import bundled_config_dir, load_runtime
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import prepare_all, process_in_transaction
from concord.security import ownership_changes
from concord.security.keys import create_key
from concord.security.scopes import ALL_TENANTS, ROLES, Scope
from concord.security.tables import ownership_versions
from concord.storage.engine import make_engine, upgrade
from tests.security.conftest import World
from tests.security.support import bearer

OWNERSHIP = frozenset({Scope.MAPPINGS_READ, Scope.MAPPINGS_PROPOSE, Scope.MAPPINGS_APPROVE})


def strict_name_policy() -> dict[str, Any]:
    """The bundled rules with account.name owner_only: a non-owner's name is refused, not left to a steward."""
    policy: dict[str, Any] = yaml.safe_load((bundled_config_dir() / "ownership.yaml").read_text())
    policy["entities"]["account"]["name"] = {"owner": "salesforce", "mode": "owner_only"}
    return policy


def _zendesk_name(world: World, ext: str, name: str, key: str) -> dict[str, Any]:
    response = world.client.post("/api/v1/changes", headers=bearer(world.admin_a), json={
        "system": "zendesk", "entity": "account", "external_id": ext, "fields": {"name": name},
        "source_ts": "2026-03-02T12:00:00Z", "idempotency_key": key, "canonical_id": world.ids["customer_id"]})
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_ownership_change_is_dry_run_approved_by_another_and_rolled_back(world: World) -> None:
    alice = bearer(world.key(ALL_TENANTS, OWNERSHIP, name="alice"))
    bob = bearer(world.key(ALL_TENANTS, OWNERSHIP, name="bob"))
    other = load_runtime(None)  # another running process (a scale-mode worker), on the file's rules
    with world.engine.connect() as conn:
        ownership_changes.sync(conn, other, interval=0.0)
    assert other.ownership.version == 1

    proposed = world.client.post("/api/v1/ownership/proposals", json={"policy": strict_name_policy()},
                                 headers=alice)
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()
    dry = proposal["dry_run"]
    # the seed's Zendesk name write went to a steward; under the new rules it would be refused
    [zendesk] = [c for c in dry["changes"] if c["system"] == "zendesk"]
    assert zendesk["fields"]["name"] == {"old": "pending", "new": "rejected"}
    assert dry["systems"]["zendesk"]["old"]["pending"] - dry["systems"]["zendesk"]["new"]["pending"] >= 1
    assert dry["systems"]["salesforce"]["old"] == dry["systems"]["salesforce"]["new"]  # the owner is unaffected
    pending = world.client.get("/api/v1/ownership/proposals", params={"status": "proposed"}, headers=bob).json()
    assert [p["id"] for p in pending] == [proposal["id"]]

    own = world.client.post(f"/api/v1/ownership/proposals/{proposal['id']}/approve", headers=alice)
    assert own.status_code == 403 and "other than its proposer" in own.json()["detail"]
    assert own.headers["content-type"] == "application/problem+json"
    approved = world.client.post(f"/api/v1/ownership/proposals/{proposal['id']}/approve", headers=bob).json()
    assert approved["status"] == "active" and approved["approved_by"] == "bob"
    assert approved["activated_version"] == 2 and approved["dry_run"]["differing"] >= 1
    with world.engine.connect() as conn:
        assert list(conn.execute(select(ownership_versions.c.version, ownership_versions.c.activated_by))) == \
            [(1, "config"), (2, "bob")]
    assert "name" in [r["field"] for r in _zendesk_name(world, "z-2", "Zebra Two", "o1")["rejected"]]

    with world.engine.connect() as conn:
        ownership_changes.sync(conn, other)  # looked less than a second ago: no query yet
        assert other.ownership.version == 1
    other.live.checked_at -= ownership_changes.SYNC_INTERVAL_S  # a second later, the other process's next batch
    prepared, errors = prepare_all(other, [ChangeCreate(
        system="zendesk", entity="account", external_id="z-4", fields={"name": "Zebra Four"},
        source_ts="2026-03-02T12:00:00Z", idempotency_key="o-other", canonical_id=world.ids["customer_id"])])
    [outcome] = process_in_transaction(world.engine, other, prepared)
    assert not errors and isinstance(outcome, ChangePublic)
    assert [r.field for r in outcome.rejected] == ["name"]  # judged by version 2 without a restart
    assert other.ownership.version == 2

    rolled = world.client.post("/api/v1/ownership/rollback", headers=bob)
    assert rolled.json() == {"version": 3}
    assert _zendesk_name(world, "z-3", "Zebra Three", "o2")["pending"], "approval mode is back"
    assert world.client.get(f"/api/v1/ownership/proposals/{proposal['id']}", headers=bob).json()["status"] == \
        "rolled_back"
    actions = {e["action"] for e in world.client.get("/api/v1/audit", headers=bearer(world.hub_admin)).json()}
    assert {"ownership.proposed", "ownership.activated", "ownership.rolled_back"} <= actions


def test_ownership_proposals_need_an_all_tenant_key_and_a_valid_policy(world: World) -> None:
    tenant_key = bearer(world.key("default", OWNERSHIP, name="tenant-admin"))
    refused = world.client.post("/api/v1/ownership/proposals", json={"policy": strict_name_policy()},
                                headers=tenant_key)
    assert refused.status_code == 403
    policy = strict_name_policy()
    policy["entities"]["account"]["name"] = {"owner": "salesfroce", "mode": "owner_only"}
    invalid = world.client.post("/api/v1/ownership/proposals", json={"policy": policy},
                                headers=bearer(world.hub_admin))
    assert invalid.status_code == 422 and invalid.json()["field"].startswith("policy.entities.account.name")


def test_cli_propose_approve_needs_two_keys(tmp_path: Path, monkeypatch: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        alice, bob, viewer = (create_key(conn, tenant=ALL_TENANTS, name=n, scopes=s, actor="test").token
                              for n, s in (("alice", OWNERSHIP), ("bob", OWNERSHIP), ("eve", ROLES["viewer"])))
    engine.dispose()
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    monkeypatch.setattr(common.console, "width", 250)
    policy_file = tmp_path / "ownership.yaml"
    policy_file.write_text(yaml.safe_dump(strict_name_policy()))
    runner = CliRunner()
    proposed = runner.invoke(build(), ["ownership", "propose", str(policy_file), "--key", alice])
    assert proposed.exit_code == 0, proposed.output
    proposal_id = proposed.output.split("proposal ")[1].split()[0]
    assert "other than alice" in proposed.output
    assert "proposal by alice" in runner.invoke(build(), ["ownership", "diff", proposal_id]).output
    refused = runner.invoke(build(), ["ownership", "approve", proposal_id], env={"CONCORD_API_KEY": alice})
    assert refused.exit_code == 2 and "other than its proposer" in refused.output
    scoped = runner.invoke(build(), ["ownership", "approve", proposal_id, "--key", viewer])
    assert scoped.exit_code == 2 and "mappings:approve" in scoped.output
    approved = runner.invoke(build(), ["ownership", "approve", proposal_id, "--key", bob])
    assert approved.exit_code == 0 and "version 2 active" in approved.output
    rolled = runner.invoke(build(), ["ownership", "rollback", "--key", bob])
    assert rolled.exit_code == 0 and "now version 3" in rolled.output
    forged = runner.invoke(build(), ["ownership", "rollback", "--key", "concord_nope_x"])
    assert forged.exit_code == 2 and "not a valid" in forged.output
