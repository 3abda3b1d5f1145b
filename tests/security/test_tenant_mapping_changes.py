"""Tenant-scoped mapping change approval (decision 071): a tenant's key proposes, approves (a second person),
rolls back its own tenant's override only, over its own traffic; other tenants neither see nor touch it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from concord.cli import common
from concord.cli.main import build
from concord.hubconfig import load_runtime
from concord.mappings.registry import bundled_specs_dir
from concord.security import proposals
from concord.security.keys import create_key
from concord.security.scopes import ALL_TENANTS, Scope
from concord.storage.engine import make_engine, upgrade
from tests.security.conftest import TENANT_A, TENANT_B, World
from tests.security.support import bearer
from tests.security.test_mapping_changes import MAPPINGS, key_account_spec

OTHER_A = "sandbox"  # also syncs Salesforce: what tenant A's override must leave alone


def held_as_blocked() -> dict[str, Any]:
    """key_account_spec plus Salesforce's credit hold called 'Blocked': any change carrying a credit status
    (also one from HubSpot, tenant B's CRM) is sent differently."""
    spec = key_account_spec()
    for field in spec["fields"]:
        if field["canonical"] == "credit_status":
            field["values"]["hold"] = "Blocked"
    return spec


def _ingest(world: World, token: str, tenant: str, system: str, ext: str, fields: dict[str, Any]) -> Any:
    return world.client.post("/api/v1/changes", headers=bearer(token), json={
        "tenant": tenant, "system": system, "entity": "account", "external_id": ext, "fields": fields,
        "source_ts": "2026-03-02T12:00:00Z", "idempotency_key": f"{tenant}-{ext}"})


def _seed_traffic(world: World) -> str:
    other = world.key(OTHER_A, frozenset({Scope.CHANGES_WRITE}), name="other-writer")
    assert _ingest(world, world.admin_a, TENANT_A, "concord", "ta1", {"name": "Mine", "credit_status": "hold"}
                   ).status_code == 202
    assert _ingest(world, world.admin_b, TENANT_B, "hubspot", "tb1",
                   {"properties": {"name": "Theirs", "credit_status": "hold"}}).status_code == 202
    assert _ingest(world, other, OTHER_A, "concord", "to1", {"name": "Other", "credit_status": "hold"}
                   ).status_code == 202
    return other


def test_tenant_override_lifecycle(world: World) -> None:
    other = _seed_traffic(world)
    alice, bob = (bearer(world.key(TENANT_A, MAPPINGS, name=n)) for n in ("alice-a", "bob-a"))
    proposed = world.client.post("/api/v1/mappings/proposals", json={"spec": held_as_blocked()}, headers=alice)
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()
    assert proposal["tenant"] == TENANT_A and proposal["spec"]["tenant"] == TENANT_A
    dry = proposal["dry_run"]
    assert dry["new_version"] == "salesforce/account[default]@1" and dry["differing"] >= 1
    assert {c["tenant"] for c in dry["changes"]} == {TENANT_A}  # only A's traffic is replayed

    page = world.client.get("/console/mappings", headers=bearer(world.hub_admin)).text
    assert f'data-proposal="{proposal["id"]}" data-tenant="default"' in page and "(tenant default)" in page

    own = world.client.post(f"/api/v1/mappings/proposals/{proposal['id']}/approve", headers=alice)
    assert own.status_code == 403 and "other than its proposer" in own.json()["detail"]
    approved = world.client.post(f"/api/v1/mappings/proposals/{proposal['id']}/approve", headers=bob).json()
    assert approved["status"] == "active" and approved["approved_by"] == "bob-a"
    assert approved["activated_version"] == 2

    mine = _ingest(world, world.admin_a, TENANT_A, "salesforce", "001K", {"Name": "K", "Type": "Key Account"})
    assert mine.status_code == 202 and mine.json()["mapping_version"] == "salesforce/account[default]@2"
    theirs = _ingest(world, other, OTHER_A, "salesforce", "001K", {"Name": "K", "Type": "Key Account"})
    assert theirs.status_code == 422  # the other tenant still runs the hub-wide spec
    hub = _ingest(world, other, OTHER_A, "salesforce", "001E", {"Name": "E", "Type": "Enterprise"})
    assert hub.status_code == 202 and hub.json()["mapping_version"] == "salesforce/account@1"

    # A hub-wide change does not reach a tenant with its own override: its dry-run leaves A's traffic out.
    hub_wide = world.client.post("/api/v1/mappings/proposals", json={"spec": held_as_blocked()},
                                 headers=bearer(world.hub_admin)).json()
    assert hub_wide["tenant"] == ALL_TENANTS and hub_wide["dry_run"]["differing"] >= 1
    assert TENANT_A not in {c["tenant"] for c in hub_wide["dry_run"]["changes"]}
    world.client.post(f"/api/v1/mappings/proposals/{hub_wide['id']}/reject", json={}, headers=bearer(world.hub_admin))

    restarted = load_runtime(None)  # another process picks the override up at start, for A only
    with world.engine.connect() as conn:
        proposals.apply_active(conn, restarted)
    running = restarted.mappings.get("salesforce", "account", TENANT_A)
    assert running is not None and running.spec.label == "salesforce/account[default]@2"
    assert restarted.mappings.get("salesforce", "account", OTHER_A) is restarted.mappings.get("salesforce", "account")

    rolled = world.client.post("/api/v1/mappings/salesforce/account/rollback", headers=bob)
    assert rolled.json() == {"tenant": TENANT_A, "system": "salesforce", "entity": "account", "version": 3}
    back = _ingest(world, world.admin_a, TENANT_A, "salesforce", "001F", {"Name": "F", "Type": "Enterprise"})
    assert back.status_code == 202 and back.json()["mapping_version"] == "salesforce/account@1"  # hub-wide again
    assert world.client.get(f"/api/v1/mappings/proposals/{proposal['id']}", headers=bob).json()["status"] == \
        "rolled_back"
    audit = world.client.get("/api/v1/audit", params={"action": "mapping.activated"},
                           headers=bearer(world.admin_a)).json()
    assert [(e["tenant"], e["object_id"]) for e in audit] == [(TENANT_A, proposal["id"])]
    rollbacks = world.client.get("/api/v1/audit", params={"action": "mapping.rolled_back"},
                               headers=bearer(world.admin_a)).json()
    assert [e["tenant"] for e in rollbacks] == [TENANT_A]


def test_other_tenants_cannot_see_or_act_on_a_proposal(world: World) -> None:
    alice = bearer(world.key(TENANT_A, MAPPINGS, name="alice-z"))
    spec = yaml.safe_load((bundled_specs_dir() / "zendesk_account.yaml").read_text())
    spec["fields"][0]["native"] = "organization_fields.legal_name"
    proposal = world.client.post("/api/v1/mappings/proposals", json={"spec": spec}, headers=alice).json()
    pid = proposal["id"]
    assert proposal["tenant"] == TENANT_A
    for token in (world.admin_b, world.key(TENANT_B, MAPPINGS, name="mallory")):
        mallory = bearer(token)
        for method, url, body in (("GET", f"/api/v1/mappings/proposals/{pid}", None),
                                  ("POST", f"/api/v1/mappings/proposals/{pid}/approve", None),
                                  ("POST", f"/api/v1/mappings/proposals/{pid}/reject", {"reason": "x"})):
            refused = world.client.request(method, url, json=body, headers=mallory)
            assert refused.status_code == 404, (method, url, refused.text)
            assert "legal_name" not in refused.text and pid in refused.json()["detail"]
        listed = world.client.get("/api/v1/mappings/proposals", headers=mallory)
        assert listed.status_code == 200 and pid not in listed.text
        assert world.client.get("/api/v1/mappings/proposals", params={"tenant": TENANT_A},
                                headers=mallory).status_code == 403
        for tenant in (TENANT_A, ALL_TENANTS):
            assert world.client.post("/api/v1/mappings/proposals", headers=mallory,
                                     json={"spec": spec, "tenant": tenant}).status_code == 403
            assert world.client.post("/api/v1/mappings/zendesk/account/rollback", params={"tenant": tenant},
                                     headers=mallory).status_code == 403
    assert world.client.post("/api/v1/mappings/proposals", json={"spec": spec, "tenant": ALL_TENANTS},
                             headers=alice).status_code == 403  # a tenant key never changes the hub-wide spec
    mismatch = world.client.post("/api/v1/mappings/proposals", json={"spec": {**spec, "tenant": TENANT_B}},
                                 headers=alice)
    assert mismatch.status_code == 422 and "spec.tenant" in mismatch.json()["detail"]
    # A hub operator sees every tenant's proposals, and can narrow the list to one tenant.
    hub = bearer(world.hub_admin)
    assert pid in world.client.get("/api/v1/mappings/proposals", params={"tenant": TENANT_A}, headers=hub).text
    assert pid not in world.client.get("/api/v1/mappings/proposals", params={"tenant": "*"}, headers=hub).text
    assert world.client.get(f"/api/v1/mappings/proposals/{pid}", headers=hub).json()["tenant"] == TENANT_A
    still = world.client.get(f"/api/v1/mappings/proposals/{pid}", headers=alice).json()
    assert still["status"] == "proposed" and still["approved_by"] is None


def test_cli_acts_for_the_keys_tenant(tmp_path: Path, monkeypatch: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        alice, bob, mallory = (create_key(conn, tenant=t, name=n, scopes=MAPPINGS, actor="test").token
                               for t, n in ((TENANT_A, "alice"), (TENANT_A, "bob"), (TENANT_B, "mallory")))
    engine.dispose()
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    monkeypatch.setattr(common.console, "width", 250)
    spec_file = tmp_path / "salesforce_account.yaml"
    spec_file.write_text(yaml.safe_dump(key_account_spec()))
    runner = CliRunner()
    hub_wide = runner.invoke(build(), ["mappings", "propose", str(spec_file), "--key", alice, "--tenant", "*"])
    assert hub_wide.exit_code == 2 and "not allowed to use tenant '*'" in hub_wide.output
    proposed = runner.invoke(build(), ["mappings", "propose", str(spec_file), "--key", alice])
    assert proposed.exit_code == 0, proposed.output
    assert "salesforce/account[default]@1" in proposed.output
    proposal_id = proposed.output.split("proposal ")[1].split()[0]
    for command in (["diff", proposal_id], ["approve", proposal_id], ["reject", proposal_id]):
        refused = runner.invoke(build(), ["mappings", *command, "--key", mallory])
        assert refused.exit_code == 2 and f"no mapping proposal {proposal_id}" in refused.output, command
    assert proposal_id not in runner.invoke(build(), ["mappings", "proposals", "--key", mallory]).output
    listed = runner.invoke(build(), ["mappings", "proposals", "--key", alice]).output
    assert proposal_id in listed and "default" in listed
    refused = runner.invoke(build(), ["mappings", "approve", proposal_id, "--key", alice])
    assert refused.exit_code == 2 and "other than its proposer" in refused.output
    approved = runner.invoke(build(), ["mappings", "approve", proposal_id, "--key", bob])
    assert approved.exit_code == 0 and "salesforce/account[default]@2" in approved.output, approved.output
    foreign = runner.invoke(build(), ["mappings", "rollback", "salesforce", "account", "--key", mallory,
                                      "--tenant", TENANT_A])
    assert foreign.exit_code == 2 and "not allowed to use tenant 'default'" in foreign.output
    rolled = runner.invoke(build(), ["mappings", "rollback", "salesforce", "account", "--key", bob])
    assert rolled.exit_code == 0 and "of tenant default rolled back: now version 3" in rolled.output
    hub = runner.invoke(build(), ["mappings", "rollback", "salesforce", "account", "--tenant", "*"])
    assert hub.exit_code == 2 and "no earlier version" in hub.output  # the hub-wide spec was never changed
