"""`concord ingest`, `show customer` and `approvals` on an embedded SQLite database (the demo: tests/demo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from concord.cli.identity import login_actor
from concord.cli.main import build
from concord.storage import queries
from concord.storage.engine import make_engine

T0 = "2026-03-01T12:00:0{}+00:00"


def line(system: str, external_id: str, fields: dict[str, Any], second: int, key: str) -> str:
    return json.dumps({"tenant": "default", "system": system, "entity": "account", "external_id": external_id,
                       "fields": fields, "source_ts": T0.format(second), "idempotency_key": key,
                       "canonical_id": "cus_1"})


CHANGES = "\n".join([
    line("salesforce", "001A", {"Name": "Acme", "Industry": "Retail"}, 1, "k1"),
    line("zendesk", "9", {"name": "Acme Support"}, 2, "k2"),  # name is salesforce's, in approval mode
    line("tryton", "7", {"name": "Acme GmbH", "credit_status": "ok"}, 3, "k3"),
    "",
    "{not json",
    line("salesforce", "001A", {"BillingCity": "Paris"}, 4, "k4"),  # billing address is tryton's
    line("salesforce", "001A", {"Nmae": "typo"}, 5, "k5"),
]) + "\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory of the test run
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'concord.db'}", "CONCORD_CONFIG_DIR": None,
            "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(build(), list(args), env=env)


def ingested(env: dict[str, str | None], tmp_path: Path) -> Result:
    path = tmp_path / "changes.jsonl"
    path.write_text(CHANGES)
    return run(env, "ingest", str(path), "--batch", "2")


def test_ingest_reports_outcomes_and_bad_lines(env: dict[str, str | None], tmp_path: Path) -> None:
    result = ingested(env, tmp_path)
    assert result.exit_code == 1  # some lines were refused
    assert "applied=2" in result.stdout and "pending=1" in result.stdout and "rejected=1" in result.stdout
    assert "error=1" in result.stdout and "invalid_lines=1" in result.stdout
    assert f"{tmp_path / 'changes.jsonl'}:5: not JSON" in "".join(result.stderr.split("\n"))
    assert "422 salesforce/account@1: Nmae: unknown field" in result.stderr


def test_ingest_progress_completes_with_bad_lines(env: dict[str, str | None], tmp_path: Path) -> None:
    assert "6/6" in ingested(env, tmp_path).stderr


def test_ingest_again_is_answered_from_idempotency_records(env: dict[str, str | None], tmp_path: Path) -> None:
    ingested(env, tmp_path)
    again = ingested(env, tmp_path)
    assert "replayed=4" in again.stdout


def test_show_customer_with_provenance(env: dict[str, str | None], tmp_path: Path) -> None:
    ingested(env, tmp_path)
    result = run(env, "show", "customer", "cus_1", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["record"]["name"] == "Acme" and view["record"]["legal_name"] == "Acme GmbH"
    assert view["fields"]["name"]["system"] == "salesforce"
    assert view["fields"]["legal_name"]["mapping_version"] == "tryton/account@1"
    assert "billing_address.city" not in view["fields"] and view["record"]["billing_address"] == {}
    assert {b["system"] for b in view["bindings"]} == {"salesforce", "zendesk", "tryton"}
    table = run(env, "show", "customer", "cus_1")
    assert table.exit_code == 0 and "legal_name" in table.stdout and "salesforce" in table.stdout


def test_show_unknown_customer(env: dict[str, str | None]) -> None:
    result = run(env, "show", "customer", "cus_nobody")
    assert result.exit_code == 1 and "no customer cus_nobody" in result.stderr


def pending_ids(env: dict[str, str | None]) -> list[str]:
    url = env["CONCORD_DATABASE_URL"]
    assert url is not None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [str(r["id"]) for r in queries.approvals(conn, None, "pending")]
    finally:
        engine.dispose()


def test_approve_applies_the_proposed_value(env: dict[str, str | None], tmp_path: Path) -> None:
    ingested(env, tmp_path)
    listed = run(env, "approvals", "list")
    assert listed.exit_code == 0 and "cus_1" in listed.stdout and "zendesk" in listed.stdout
    [approval] = pending_ids(env)
    result = run(env, "approvals", "approve", approval)
    assert result.exit_code == 0, result.output
    assert "approved: applied, applied ['name']" in result.stdout
    view = json.loads(run(env, "show", "customer", "cus_1", "--json").stdout)
    assert view["record"]["name"] == "Acme Support" and view["fields"]["name"]["approved_by"] == login_actor()
    twice = run(env, "approvals", "approve", approval)
    assert twice.exit_code == 1 and "already approved" in twice.stderr


def test_reject_closes_the_approval(env: dict[str, str | None], tmp_path: Path) -> None:
    ingested(env, tmp_path)
    [approval] = pending_ids(env)
    result = run(env, "approvals", "reject", approval, "--reason", "support alias")
    assert result.exit_code == 0 and "rejected" in result.stdout
    assert pending_ids(env) == []
    assert run(env, "approvals", "reject", "nope").exit_code == 1
    assert run(env, "approvals", "reject", "nope", "--actor", "ann").exit_code == 2  # nobody types in who they are

