"""`concord workflows runs` and `concord workflows show`: the journal from a terminal, read while nothing runs
workflows in the CLI's own process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

from concord.cli.main import build
from concord.workflows.engine import WorkflowEngine, WorkflowSettings
from concord.workflows.journal import run_workflow, step, workflow
from concord.workflows.services import WorkflowServices


class Ask(BaseModel):
    tenant: str
    fail: bool = False


@step("cli-check")
def check(ask: Ask) -> str:
    if ask.fail:
        raise ValueError("the ERP refused it")
    return "ok"


@workflow("test-cli-runs")
def flow(ask: Ask) -> str:
    return check(ask) + check(ask)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    monkeypatch.chdir(tmp_path)
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'concord.db'}", "CONCORD_CONFIG_DIR": None,
            "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(build(), list(args), env=env)


def _journal(tmp_path: Path) -> None:
    services = WorkflowServices(engine=None, runtime=None, connectors={}, policy=None,  # type: ignore[arg-type]
                                duplicates=None, events=None)  # type: ignore[arg-type]
    settings = WorkflowSettings(database_url=f"sqlite:///{tmp_path / 'concord.db'}", sqlite_synchronous="NORMAL")
    with WorkflowEngine(settings, services):
        run_workflow(flow, Ask(tenant="acme"), "onboard:acme:cus_1")
        with pytest.raises(ValueError):
            run_workflow(flow, Ask(tenant="acme", fail=True), "onboard:acme:cus_2")
        run_workflow(flow, Ask(tenant="globex"), "onboard:globex:cus_3")


def test_no_journal_lists_nothing_and_creates_nothing(env: dict[str, str | None], tmp_path: Path) -> None:
    result = run(env, "workflows", "runs", "--status", "all", "--json")
    assert result.exit_code == 0 and result.stdout.strip() == ""
    assert not (tmp_path / "concord-workflows.sqlite").exists()


def test_runs_by_status_tenant_and_customer_and_one_run_with_its_journal(env: dict[str, str | None],
                                                                        tmp_path: Path) -> None:
    _journal(tmp_path)
    listed = run(env, "workflows", "runs", "--status", "all", "--json").stdout.splitlines()
    every = [json.loads(line) for line in listed]
    assert [r["workflow_id"] for r in every] == ["onboard:acme:cus_1", "onboard:acme:cus_2", "onboard:globex:cus_3"]
    failed = run(env, "workflows", "runs", "--status", "failed", "--json").stdout.splitlines()
    assert [json.loads(line)["workflow_id"] for line in failed] == ["onboard:acme:cus_2"]
    acme = run(env, "workflows", "runs", "--status", "completed", "--tenant", "acme", "--json").stdout.splitlines()
    assert [json.loads(line)["workflow_id"] for line in acme] == ["onboard:acme:cus_1"]
    one = run(env, "workflows", "runs", "--status", "all", "--tenant", "globex", "--customer", "cus_3", "--json")
    assert [json.loads(line)["workflow_id"] for line in one.stdout.splitlines()] == ["onboard:globex:cus_3"]
    shown = json.loads(run(env, "workflows", "show", "onboard:acme:cus_2", "--json").stdout)
    assert (shown["status"], shown["error"]) == ("ERROR", "the ERP refused it")
    assert [(s["seq"], s["name"], s["failed"]) for s in shown["steps"]] == [(1, "cli-check", True)]
    table = run(env, "workflows", "show", "onboard:acme:cus_1")
    assert table.exit_code == 0 and "cli-check" in table.stdout and "SUCCESS" in table.stdout


def test_bad_options_and_unknown_runs_are_named(env: dict[str, str | None], tmp_path: Path) -> None:
    _journal(tmp_path)
    bad = run(env, "workflows", "runs", "--status", "stuck")
    assert bad.exit_code != 0 and "--status: unknown status 'stuck'" in bad.stderr
    lonely = run(env, "workflows", "runs", "--customer", "cus_1")
    assert lonely.exit_code != 0 and "--customer: give --tenant too" in lonely.stderr
    missing = run(env, "workflows", "show", "onboard:acme:nobody")
    assert missing.exit_code == 1 and "workflow_id: no run onboard:acme:nobody" in missing.stderr
