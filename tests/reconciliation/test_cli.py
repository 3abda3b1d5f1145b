"""`concord backfill`, `reconcile` (report, --json, --heal) and `merge` / `unmerge` / `review` from the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.matching.tables import merges
from concord.sandbox.common import serve_in_thread
from concord.sandbox.salesforce.app import create_app
from concord.sandbox.salesforce.settings import SalesforceTwinSettings
from concord.security.keys import create_key
from concord.security.scopes import ROLES
from concord.storage import tables as t
from concord.storage.engine import make_engine


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    settings = SalesforceTwinSettings()
    app = create_app(settings)
    handle = serve_in_thread(app)
    config = tmp_path / "systems.yaml"
    config.write_text(yaml.safe_dump({"systems": {"salesforce": {"connector": "salesforce", "config": {
        "login_url": handle.base_url, "client_id": settings.client_id, "client_secret": settings.client_secret}}}}))
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONCORD_CONNECTIONS": str(config)}
    yield app.state.store, env
    handle.stop()


def _key(env: dict[str, str], tenant: str, name: str) -> str:
    engine = make_engine(env["CONCORD_DATABASE_URL"])
    with engine.begin() as conn:
        token = create_key(conn, tenant=tenant, name=name, scopes=ROLES["steward"], actor="test").token
    engine.dispose()
    return token


def _invoke(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(build(), list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def test_backfill_reconcile_heal_and_merge_from_the_command_line(sandbox: tuple[Any, dict[str, str]]) -> None:
    store, env = sandbox
    a = store.inject("Account", {"Name": "Initech", "Phone": "+1 555 0101"})
    b = store.inject("Account", {"Name": "Globex", "Phone": "+1 555 0102"})
    assert "complete; 2 records" in _invoke(env, "backfill", "--system", "salesforce").output
    clean = json.loads(_invoke(env, "reconcile", "--system", "salesforce", "--json").output)
    assert clean["counts"] == {"missing": 0, "extra": 0, "field": 0, "deleted": 0} and clean["records"] == 2

    store.tamper("Account", a, {"Name": "Initech Corp"})
    dry = _invoke(env, "reconcile", "--system", "salesforce")
    assert "field 1" in dry.output and "Corp" in dry.output
    assert "field 1" in _invoke(env, "reconcile", "--system", "salesforce").output  # a dry run changed nothing
    healed = _invoke(env, "reconcile", "--system", "salesforce", "--heal")
    assert "1 records ingested" in healed.output
    after = json.loads(_invoke(env, "reconcile", "--system", "salesforce", "--json").output)
    assert after["counts"]["field"] == 0

    engine = make_engine(env["CONCORD_DATABASE_URL"])
    with engine.connect() as conn:
        ids = dict(conn.execute(select(t.bindings.c.external_id, t.bindings.c.canonical_id)).all())
    other_tenant = _key(env, "acme-eu", "eve")
    foreign = CliRunner().invoke(build(), ["merge", ids[a], ids[b], "--key", other_tenant], env=env)
    assert foreign.exit_code == 2 and "tenant 'default'" in foreign.output
    steward = _key(env, "default", "ann")
    merged = _invoke(env, "merge", ids[a], ids[b], "--key", steward)
    merge_id = merged.output.split("concord unmerge ")[1].split()[0]
    with engine.connect() as conn:
        assert set(conn.execute(select(t.bindings.c.canonical_id)).scalars()) == {ids[a]}
    with engine.connect() as conn:
        assert conn.execute(select(merges.c.actor)).scalar() == "ann"  # the key's name, not a typed-in one
    foreign = CliRunner().invoke(build(), ["unmerge", merge_id], env={**env, "CONCORD_API_KEY": other_tenant})
    assert foreign.exit_code == 2 and "tenant 'default'" in foreign.output
    _invoke(env, "unmerge", merge_id)
    with engine.connect() as conn:
        assert dict(conn.execute(select(t.bindings.c.external_id, t.bindings.c.canonical_id)).all()) == ids
    engine.dispose()
    assert json.loads(_invoke(env, "review", "list", "--json").output) == []
    refused = CliRunner().invoke(build(), ["unmerge", merge_id], env=env)
    assert refused.exit_code == 2 and "already unmerged" in refused.output
    bad = CliRunner().invoke(build(), ["reconcile", "--system", "nosuch"], env=env)
    assert bad.exit_code == 2 and "nosuch" in bad.output


def test_reconcile_compares_with_the_activated_mapping_not_the_file(sandbox: tuple[Any, dict[str, str]]) -> None:
    from concord.hubconfig import load_runtime
    from concord.mappings.registry import bundled_specs_dir
    from concord.security import proposals

    store, env = sandbox
    a = store.inject("Account", {"Name": "Initech", "Phone": "+1 555 0101"})
    _invoke(env, "backfill", "--system", "salesforce")
    store.tamper("Account", a, {"Phone": "+1 555 0199"})
    assert "field 1" in _invoke(env, "reconcile", "--system", "salesforce").output  # the file maps Phone

    spec = yaml.safe_load((bundled_specs_dir() / "salesforce_account.yaml").read_text())
    spec["fields"] = [f for f in spec["fields"] if f.get("native") != "Phone"]  # a change: Phone unmapped
    engine, approver = make_engine(env["CONCORD_DATABASE_URL"]), load_runtime(None)
    with engine.begin() as conn:
        pid = proposals.propose(conn, approver, proposals.validate_spec(spec), "alice")
        proposals.approve(conn, approver, pid, "bob")
    engine.dispose()

    report = json.loads(_invoke(env, "reconcile", "--system", "salesforce", "--json").output)
    assert report["counts"]["field"] == 0  # compared through the activated spec, which no longer maps Phone


def test_the_deprecated_connectors_option_still_reads_a_flat_file_and_says_so_once(
        sandbox: tuple[Any, dict[str, str]], tmp_path: Path) -> None:
    store, env = sandbox
    store.inject("Account", {"Name": "Initech"})
    systems = Path(env.pop("CONCORD_CONNECTIONS"))
    flat = tmp_path / "connectors.yaml"  # the file the old scripts hand over: `system: {config}` at the top
    flat.write_text(yaml.safe_dump({"salesforce": yaml.safe_load(systems.read_text())["systems"]["salesforce"][
        "config"]}))
    old = CliRunner().invoke(build(), ["backfill", "--system", "salesforce", "--connectors", str(flat)], env=env)
    assert old.exit_code == 0 and "complete; 1 records" in old.stdout, old.output
    assert old.stderr.count("warning:") == 1
    assert "use --connections" in old.stderr and "flat connections format" in old.stderr
    by_env = CliRunner().invoke(build(), ["reconcile", "--system", "salesforce", "--json"],
                                env={**env, "CONCORD_CONNECTORS_FILE": str(flat)})
    assert by_env.exit_code == 0 and json.loads(by_env.stdout)["records"] == 1 and "deprecated" in by_env.stderr
    current = CliRunner().invoke(build(), ["reconcile", "--system", "salesforce", "--connections", str(systems)],
                                 env=env)
    assert current.exit_code == 0 and "1 records read" in current.stdout and current.stderr == ""


def test_a_bad_connections_file_is_refused_naming_file_line_and_field(
        sandbox: tuple[Any, dict[str, str]], tmp_path: Path) -> None:
    _, env = sandbox
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems:\n  salesforce:\n    connector: salesforse\n    config:\n"
                   "      login_url: https://login.example\n")
    for command in ("reconcile", "backfill"):
        result = CliRunner().invoke(build(), [command, "--system", "salesforce", "--connections", str(bad)], env=env)
        assert result.exit_code == 2
        assert f"{bad}:3: systems.salesforce.connector" in result.stderr, result.stderr
    missing = CliRunner().invoke(build(), ["reconcile", "--system", "salesforce", "--connections",
                                           str(tmp_path / "nowhere.yaml")], env=env)
    assert missing.exit_code == 2 and "nowhere.yaml" in missing.stderr
