"""`concord ownership … --tenant T` (decision 073): a key of tenant T proposes, approves and rolls back T's
override section; another tenant's key neither sees nor acts on it, and whole-policy changes need an all-tenant
key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from concord.cli import common
from concord.cli.main import build
from concord.security.keys import create_key
from concord.security.scopes import ALL_TENANTS, Scope
from concord.storage.engine import make_engine, upgrade

OWNERSHIP = frozenset({Scope.MAPPINGS_READ, Scope.MAPPINGS_PROPOSE, Scope.MAPPINGS_APPROVE})


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        tokens = {name: create_key(conn, tenant=tenant, name=name, scopes=OWNERSHIP, actor="test").token
                  for name, tenant in (("alice", "default"), ("bob", "default"), ("carol", "acme-eu"),
                                       ("root", ALL_TENANTS))}
    engine.dispose()
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    monkeypatch.setattr(common.console, "width", 250)
    return tokens


def run(*args: str) -> Result:
    return CliRunner().invoke(build(), ["ownership", *args])


def test_tenant_keys_keep_to_their_own_overrides(keys: dict[str, str], tmp_path: Path) -> None:
    section = tmp_path / "default-overrides.yaml"
    section.write_text(yaml.safe_dump({"account": {"name": {"owner": "zendesk", "mode": "owner_only"}}}))
    whole = run("propose", str(section), "--key", keys["alice"])
    assert whole.exit_code == 2 and "all-tenant key" in whole.output and "--tenant default" in whole.output
    foreign = run("propose", str(section), "--tenant", "acme-eu", "--key", keys["alice"])
    assert foreign.exit_code == 2 and "acme-eu" in foreign.output
    typo = tmp_path / "typo.yaml"
    typo.write_text("account:\n  nmae: {owner: zendesk}\n")
    invalid = run("propose", str(typo), "--tenant", "default", "--key", keys["alice"])
    assert invalid.exit_code == 2 and f"{typo}:2: account.nmae: matches no field of account" in invalid.output

    proposed = run("propose", str(section), "--tenant", "default", "--key", keys["alice"])
    assert proposed.exit_code == 0, proposed.output
    proposal_id = proposed.output.split("proposal ")[1].split()[0]

    for command in (("diff", proposal_id), ("approve", proposal_id), ("reject", proposal_id)):
        refused = run(*command, "--key", keys["carol"])
        assert refused.exit_code == 2 and f"no ownership proposal {proposal_id}" in refused.output
    listed = run("proposals", "--key", keys["carol"])
    assert listed.exit_code == 0 and proposal_id not in listed.output
    assert run("proposals", "--tenant", "default", "--key", keys["carol"]).exit_code == 2
    assert proposal_id in run("proposals", "--key", keys["bob"]).output
    assert "(tenant default)" in run("diff", proposal_id, "--key", keys["bob"]).output

    approved = run("approve", proposal_id, "--key", keys["bob"])
    assert approved.exit_code == 0 and "version 2 active" in approved.output, approved.output
    assert run("rollback", "--key", keys["carol"]).exit_code == 2  # acme-eu's overrides never changed
    assert run("rollback", "--tenant", "default", "--key", keys["carol"]).exit_code == 2
    rolled = run("rollback", "--key", keys["bob"])
    assert rolled.exit_code == 0 and "tenant default's overrides rolled back: now version 3" in rolled.output
    hub = run("rollback", "--key", keys["root"])
    assert hub.exit_code == 0 and "ownership rules rolled back: now version 4" in hub.output
