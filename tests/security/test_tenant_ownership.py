"""Tenant-scoped ownership changes (decision 073): a key of tenant T proposes, approves and rolls back changes of
T's override section only, with a dry-run over T's traffic only; it never sees nor acts on another tenant's
proposals (API, CLI, console), and hub-wide rule changes still need an all-tenant key. Audit entries carry T."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, select

from concord.hubconfig import load_runtime
from concord.security import ownership_changes as changes
from concord.security.proposal_store import ProposalError
from concord.security.scopes import ALL_TENANTS, Scope
from concord.security.tables import ownership_proposals
from concord.yamlconf import error_location
from tests.security.conftest import TENANT_A, TENANT_B, World
from tests.security.support import bearer
from tests.security.test_ownership_changes import strict_name_policy

OWNERSHIP = frozenset({Scope.MAPPINGS_READ, Scope.MAPPINGS_PROPOSE, Scope.MAPPINGS_APPROVE})
ZENDESK_OWNS_NAME = {"account": {"name": {"owner": "zendesk", "mode": "owner_only"}}}


def _b_traffic(world: World) -> str:
    """A zendesk name write of tenant B (pending under the bundled rules): what A's dry-run must not replay."""
    response = world.client.post("/api/v1/changes", headers=bearer(world.admin_b), json={
        "system": "zendesk", "entity": "account", "external_id": "zb-1", "fields": {"name": "Bee Secret Ltd"},
        "source_ts": "2026-03-02T12:00:00Z", "idempotency_key": "b-own-1"})
    assert response.status_code == 202, response.text
    return str(response.json()["change_id"])


def _rule_owner(world: World, tenant: str) -> str:
    return world.app.state.concord.runtime.ownership.rule_for(tenant, "account", "name").owner  # type: ignore


def test_a_tenant_key_changes_its_own_overrides_only_and_never_sees_another_tenants(world: World) -> None:
    c = world.client
    b_change = _b_traffic(world)
    b_owner = _rule_owner(world, TENANT_B)  # B's own override (the bundled rules give it one)
    alice, bob = (bearer(world.key(TENANT_A, OWNERSHIP, name=n)) for n in ("alice-a", "bob-a"))
    carol = bearer(world.key(TENANT_B, OWNERSHIP, name="carol-b"))

    # hub-wide rules, another tenant's section, or an invalid section: refused, naming the field
    assert c.post("/api/v1/ownership/proposals", json={"policy": strict_name_policy()}, headers=alice
                  ).status_code == 403
    other = c.post("/api/v1/ownership/proposals", json={"tenant": TENANT_B, "overrides": {}}, headers=alice)
    assert other.status_code == 403 and other.json()["field"] == "tenant"
    bad = c.post("/api/v1/ownership/proposals", json={"overrides": {"acount": {"name": {"owner": "zendesk"}}}},
                 headers=alice)
    assert bad.status_code == 422 and bad.json()["field"] == "overrides.acount"

    created = c.post("/api/v1/ownership/proposals", json={"overrides": ZENDESK_OWNS_NAME}, headers=alice)
    assert created.status_code == 201, created.text
    proposal = created.json()
    assert proposal["tenant"] == TENANT_A and proposal["policy"] is None
    assert proposal["overrides"]["account"]["name"]["owner"] == "zendesk"
    dry = proposal["dry_run"]
    assert dry["replayed"] >= 1 and {ch["tenant"] for ch in dry["changes"]} == {TENANT_A}
    assert b_change not in str(dry)  # tenant B's traffic is not replayed for A
    [zendesk] = [ch for ch in dry["changes"] if ch["system"] == "zendesk"]
    assert zendesk["fields"]["name"] == {"old": "pending", "new": "accepted"}

    # tenant B: not found (exactly like a proposal that does not exist), an empty list, no way to act
    url = f"/api/v1/ownership/proposals/{proposal['id']}"
    for method, path in (("GET", url), ("POST", f"{url}/approve"), ("POST", f"{url}/reject")):
        seen = c.request(method, path, headers=carol, json={} if method == "POST" else None)
        ghost = c.request(method, path.replace(proposal["id"], "0" * 32), headers=carol,
                          json={} if method == "POST" else None)
        assert seen.status_code == ghost.status_code == 404
        assert seen.json()["detail"] == ghost.json()["detail"].replace("0" * 32, proposal["id"])
        assert "zendesk" not in seen.text and TENANT_A not in seen.text
    assert c.get("/api/v1/ownership/proposals", headers=carol).json() == []
    assert c.get("/api/v1/ownership/proposals", params={"tenant": TENANT_A}, headers=carol).status_code == 403
    assert [p["id"] for p in c.get("/api/v1/ownership/proposals", headers=bob).json()] == [proposal["id"]]

    assert c.post(f"{url}/approve", headers=alice).status_code == 403  # four eyes within the tenant too
    approved = c.post(f"{url}/approve", headers=bob).json()
    assert approved["status"] == "active" and approved["approved_by"] == "bob-a"
    assert (_rule_owner(world, TENANT_A), _rule_owner(world, TENANT_B)) == ("zendesk", b_owner)

    a_audit = c.get("/api/v1/audit", params={"action": "ownership.activated"}, headers=bearer(world.admin_a))
    assert [(e["tenant"], e["actor"]) for e in a_audit.json()] == [(TENANT_A, "bob-a")]
    assert c.get("/api/v1/audit", params={"action": "ownership.activated"},
                 headers=bearer(world.admin_b)).json() == []

    # rollback: B has nothing of its own to roll back and may not touch A's; A's goes back, B's is untouched
    assert c.post("/api/v1/ownership/rollback", headers=carol).status_code == 409
    assert c.post("/api/v1/ownership/rollback", params={"tenant": TENANT_A}, headers=carol).status_code == 403
    assert c.post("/api/v1/ownership/rollback", params={"tenant": ALL_TENANTS}, headers=bob).status_code == 403
    rolled = c.post("/api/v1/ownership/rollback", headers=bob)
    assert rolled.status_code == 200 and rolled.json()["version"] == 3
    assert (_rule_owner(world, TENANT_A), _rule_owner(world, TENANT_B)) == ("salesforce", b_owner)
    assert c.get(url, headers=bob).json()["status"] == "rolled_back"
    assert c.post("/api/v1/ownership/rollback", headers=bob).status_code == 200  # back to A's override again
    assert _rule_owner(world, TENANT_A) == "zendesk"

    # the console shows every tenant: a tenant's key neither sees the page nor posts its forms
    assert c.get("/console/mappings", headers=carol).status_code == 403
    assert c.post("/console/ownership/proposals", headers=carol, data={"policy": "x"}).status_code == 403
    assert c.post(f"/console/ownership/proposals/{proposal['id']}/approve", headers=carol).status_code == 403


def test_a_tenant_change_is_applied_on_the_rules_in_force_at_approval(engine: Engine) -> None:
    """On SQLite and PostgreSQL: a hub-wide change activated after a tenant's proposal was made is kept when
    the tenant's proposal is activated (only the tenant's section is replaced), and the hub-wide rollback
    still needs nothing but the versions."""
    runtime = load_runtime(None)  # its own: activations swap the runtime's rules
    with engine.begin() as conn:
        mine = changes.propose_overrides(conn, runtime, TENANT_A, changes.validate_overrides(
            ZENDESK_OWNS_NAME, runtime), "alice")
        hub = changes.propose(conn, runtime, changes.validate_policy(strict_name_policy(), runtime), "root")
        assert changes.list_proposals(conn, tenant=TENANT_A)[0]["id"] == mine
        assert [p["id"] for p in changes.list_proposals(conn, tenant=ALL_TENANTS)] == [hub]
        with pytest.raises(ProposalError) as hidden:
            changes.approve(conn, runtime, mine, "bob", visible_to=TENANT_B)
        assert hidden.value.status == 404
        assert changes.approve(conn, runtime, hub, "ops") == 2
        assert changes.approve(conn, runtime, mine, "bob", visible_to=TENANT_A) == 3
        statuses = dict(conn.execute(select(ownership_proposals.c.id, ownership_proposals.c.status)).all())
    policy = runtime.ownership
    assert policy.entities["account"]["name"].mode == "owner_only"  # the hub-wide change survived
    assert policy.rule_for(TENANT_A, "account", "name").owner == "zendesk"
    assert statuses == {hub: "active", mine: "active"}  # a tenant's activation supersedes only its own
    with engine.begin() as conn:
        assert changes.rollback(conn, runtime, "bob", TENANT_A) == 4
    assert runtime.ownership.rule_for(TENANT_A, "account", "name").owner == "salesforce"
    assert runtime.ownership.entities["account"]["name"].mode == "owner_only"


def test_override_sections_are_validated_like_the_policy_section() -> None:
    runtime = load_runtime(None)
    for raw, loc in (({"account": {"nmae": {"owner": "zendesk"}}}, ("account", "nmae")),
                     ({"account": {"name": {"owner": "zendeks"}}}, ("account", "name", "owner")),
                     ({"widget": {}}, ("widget",))):
        with pytest.raises(ValidationError) as exc:
            changes.validate_overrides(raw, runtime)
        assert error_location(exc.value.errors()[0])[0] == loc, exc.value.errors()
    assert changes.validate_overrides({}, runtime) == {}



def test_a_hub_operator_proposes_a_tenants_overrides_from_the_console(world: World) -> None:
    c, hub = world.client, bearer(world.hub_admin)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/console/mappings", headers=hub).text)
    assert csrf
    form = {"csrf_token": csrf.group(1), "tenant": TENANT_B,
            "policy": yaml.safe_dump({"contact": {"email": {"owner": "zendesk", "mode": "owner_only"}}})}
    typo = c.post("/console/ownership/proposals", headers=hub, follow_redirects=False,
                  data={**form, "policy": "contact: {emial: {owner: zendesk}}"})
    where = unquote(typo.headers["location"])
    assert "kind=error" in where and "overrides.contact.emial" in where
    proposed = c.post("/console/ownership/proposals", headers=hub, follow_redirects=False, data=form)
    assert "kind=ok" in proposed.headers["location"], proposed.headers
    page = c.get("/console/mappings", headers=hub).text
    block = page.split(f'data-tenant="{TENANT_B}"')[1].split("</div>")[0]
    assert f"tenant {TENANT_B}'s overrides" in block and "+contact:" in block
    assert f"proposed: tenants.{TENANT_B}" in block  # the diff is of B's section, not the whole policy
    filtered = c.get("/console/mappings", params={"tenant": TENANT_A}, headers=hub).text
    assert f'data-tenant="{TENANT_B}"' not in filtered
