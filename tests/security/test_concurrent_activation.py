"""Two approvals that draw the same version number (two processes, both reading before either commits): the
second is answered 409 problem+json, and what it had swapped into its process is put back by the next sync."""

from __future__ import annotations

from typing import Any

import pytest

from concord.security import ownership_changes as changes
from concord.security.scopes import Scope
from tests.security.conftest import TENANT_A, World
from tests.security.support import bearer

OWNERSHIP = frozenset({Scope.MAPPINGS_READ, Scope.MAPPINGS_PROPOSE, Scope.MAPPINGS_APPROVE})


def _overrides(owner: str) -> dict[str, Any]:
    return {"overrides": {"account": {"name": {"owner": owner, "mode": "owner_only"}}}}


def _owner(world: World) -> str:
    runtime = world.app.state.concord.runtime
    return str(runtime.ownership.rule_for(TENANT_A, "account", "name").owner)


def test_a_lost_race_for_the_version_number_is_409_and_leaves_the_winner_in_force(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    c = world.client
    alice, bob = (bearer(world.key(TENANT_A, OWNERSHIP, name=n)) for n in ("alice-a", "bob-a"))
    first = c.post("/api/v1/ownership/proposals", json=_overrides("zendesk"), headers=alice).json()
    assert c.post(f"/api/v1/ownership/proposals/{first['id']}/approve", json={}, headers=bob).status_code == 200
    assert _owner(world) == "zendesk"

    second = c.post("/api/v1/ownership/proposals", json=_overrides("hubspot"), headers=alice).json()
    versions = changes._versions
    # what a process that read the versions before the winner committed sees: one row short
    monkeypatch.setattr(changes, "_versions", lambda conn: versions(conn)[:-1])
    lost = c.post(f"/api/v1/ownership/proposals/{second['id']}/approve", json={}, headers=bob)
    assert lost.status_code == 409, lost.text
    assert lost.headers["content-type"].startswith("application/problem+json") and "retry" in lost.json()["detail"]
    monkeypatch.undo()

    with world.engine.connect() as conn:
        changes.sync(conn, world.app.state.concord.runtime, interval=60.0)  # the invalidation forces a look
    assert _owner(world) == "zendesk"  # the committed winner, not the loser's uncommitted swap
    assert c.get(f"/api/v1/ownership/proposals/{second['id']}", headers=bob).json()["status"] == "proposed"
