"""Mapping change approval: dry-run over real recent traffic, four eyes, version bump, rollback, no resync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from concord.cli import common
from concord.cli.main import build
from concord.hubconfig import load_runtime
from concord.mappings.registry import bundled_specs_dir
from concord.security import proposals
from concord.security.keys import create_key
from concord.security.scopes import ALL_TENANTS, Scope
from concord.storage.engine import make_engine, upgrade
from concord.storage.tables import outbox
from tests.security.conftest import World
from tests.security.support import bearer

MAPPINGS = frozenset({Scope.MAPPINGS_READ, Scope.MAPPINGS_PROPOSE, Scope.MAPPINGS_APPROVE})


def key_account_spec() -> dict[str, Any]:
    """salesforce/account with the enterprise segment renamed to 'Key Account' in Salesforce."""
    spec: dict[str, Any] = yaml.safe_load((bundled_specs_dir() / "salesforce_account.yaml").read_text())
    for field in spec["fields"]:
        if field["canonical"] == "segment":
            field["values"]["enterprise"] = "Key Account"
    return spec


def _ingest(world: World, system: str, ext: str, fields: dict[str, Any], key: str) -> dict[str, Any]:
    response = world.client.post("/api/v1/changes", headers=bearer(world.admin_a), json={
        "system": system, "entity": "account", "external_id": ext, "fields": fields,
        "source_ts": "2026-03-02T12:00:00Z", "idempotency_key": key})
    return {**response.json(), "http": response.status_code}


def _outbox_rows(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def test_proposal_is_dry_run_approved_by_a_second_person_and_rolled_back(world: World) -> None:
    alice = bearer(world.key(ALL_TENANTS, MAPPINGS, name="alice"))
    bob = bearer(world.key(ALL_TENANTS, MAPPINGS, name="bob"))
    assert _ingest(world, "salesforce", "001E", {"Name": "Big Co", "Type": "Enterprise"}, "e1")["http"] == 202
    assert _ingest(world, "concord", "c1", {"name": "Inner Co", "segment": "enterprise"}, "e2")["http"] == 202

    proposed = world.client.post("/api/v1/mappings/proposals", json={"spec": key_account_spec(), "replay": 50},
                                 headers=alice)
    assert proposed.status_code == 201, proposed.text
    proposal = proposed.json()
    dry = proposal["dry_run"]
    assert dry["old_version"] == "salesforce/account@1" and dry["differing"] >= 2
    by_source = {c["source"]: c for c in dry["changes"]}
    assert by_source["concord"]["direction"] == "outbound"
    assert by_source["concord"]["fields"] == {"Type": {"old": "Enterprise", "new": "Key Account"}}
    assert by_source["salesforce"]["direction"] == "inbound"
    assert "<refused>" in by_source["salesforce"]["fields"]

    own = world.client.post(f"/api/v1/mappings/proposals/{proposal['id']}/approve", headers=alice)
    assert own.status_code == 403 and "other than its proposer" in own.json()["detail"]
    outbox_before = _outbox_rows(world)
    approved = world.client.post(f"/api/v1/mappings/proposals/{proposal['id']}/approve", headers=bob).json()
    assert approved["status"] == "active" and approved["approved_by"] == "bob"
    assert approved["activated_version"] == 2 and approved["dry_run"]["differing"] >= 2
    assert _outbox_rows(world) == outbox_before  # activation alone sends nothing anywhere: no silent resync

    new = _ingest(world, "salesforce", "001F", {"Name": "New Co", "Type": "Key Account"}, "e3")
    assert new["http"] == 202 and new["mapping_version"] == "salesforce/account@2"
    assert _ingest(world, "salesforce", "001G", {"Name": "Old Co", "Type": "Enterprise"}, "e4")["http"] == 422

    rolled = world.client.post("/api/v1/mappings/salesforce/account/rollback", headers=bob)
    assert rolled.json() == {"tenant": "*", "system": "salesforce", "entity": "account", "version": 3}
    again = _ingest(world, "salesforce", "001H", {"Name": "Old Co", "Type": "Enterprise"}, "e5")
    assert again["http"] == 202 and again["mapping_version"] == "salesforce/account@3"
    assert world.client.get(f"/api/v1/mappings/proposals/{proposal['id']}", headers=bob).json()["status"] == \
        "rolled_back"

    restarted = load_runtime(None)  # a restarted server runs the activated version, not the file's
    with world.engine.connect() as conn:
        proposals.apply_active(conn, restarted)
    mapper = restarted.mappings.get("salesforce", "account")
    assert mapper is not None and mapper.spec.version == 3
    actions = [e["action"] for e in world.client.get("/api/v1/audit", params={"system": "salesforce"},
                                                      headers=bearer(world.hub_admin)).json()]
    assert {"mapping.proposed", "mapping.activated", "mapping.rolled_back"} <= set(actions)


def test_invalid_proposal_names_the_field(world: World) -> None:
    spec = key_account_spec()
    spec["fields"][0]["canonical"] = "nmae"
    response = world.client.post("/api/v1/mappings/proposals", json={"spec": spec},
                                 headers=bearer(world.hub_admin))
    assert response.status_code == 422 and response.json()["field"].startswith("spec.fields.0")


def test_cli_propose_diff_approve_rollback(tmp_path: Path, monkeypatch: Any) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        alice, bob = (create_key(conn, tenant=ALL_TENANTS, name=n, scopes=MAPPINGS, actor="test").token
                      for n in ("alice", "bob"))
    engine.dispose()
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    monkeypatch.setattr(common.console, "width", 250)
    spec_file = tmp_path / "salesforce_account.yaml"
    spec_file.write_text(yaml.safe_dump(key_account_spec()))
    runner = CliRunner()
    proposed = runner.invoke(build(), ["mappings", "propose", str(spec_file), "--key", alice])
    assert proposed.exit_code == 0, proposed.output
    proposal_id = proposed.output.split("proposal ")[1].split()[0]
    assert "salesforce/account@1 → salesforce/account@1" in proposed.output  # the label before the bump
    assert proposal_id in runner.invoke(build(), ["mappings", "proposals"]).output
    assert "proposed by alice" in runner.invoke(build(), ["mappings", "diff", proposal_id]).output
    refused = runner.invoke(build(), ["mappings", "approve", proposal_id, "--key", alice])
    assert refused.exit_code == 2 and "other than its proposer" in refused.output
    approved = runner.invoke(build(), ["mappings", "approve", proposal_id, "--key", bob])
    assert approved.exit_code == 0 and "salesforce/account@2" in approved.output
    rolled = runner.invoke(build(), ["mappings", "rollback", "salesforce", "account", "--key", bob])
    assert rolled.exit_code == 0 and "version 3" in rolled.output
    nothing = runner.invoke(build(), ["mappings", "rollback", "hubspot", "account", "--key", bob])
    assert nothing.exit_code == 2 and "no earlier version" in nothing.output
