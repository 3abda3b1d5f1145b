"""`concord explain` and `concord lifecycle start` (validation before anything is sent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from concord.cli.main import build
from concord.hubconfig import Runtime
from concord.ingest.models import ChangeCreate, ChangePublic
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine
from tests.workflows.support import concord_database


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    monkeypatch.chdir(tmp_path)
    return {"CONCORD_DATABASE_URL": concord_database(tmp_path / "concord.db"), "CONCORD_CONFIG_DIR": None,
            "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(build(), list(args), env=env)


def _held_customer(url: str, runtime: Runtime) -> str:
    engine = make_engine(url, sqlite_synchronous="NORMAL")
    service = IngestService(engine, runtime)
    service.start()
    try:
        now = datetime.now(UTC)
        made = service.ingest([ChangeCreate(system="salesforce", entity="account", external_id="001H",
                                            fields={"Name": "Held GmbH"}, source_ts=now, idempotency_key="h1")])[0]
        assert isinstance(made, ChangePublic)
        held = service.ingest([ChangeCreate(system="concord", entity="account", external_id=made.canonical_id,
                                            canonical_id=made.canonical_id, fields={"lifecycle_state": "credit_hold"},
                                            source_ts=now, idempotency_key="h2")])[0]
        assert isinstance(held, ChangePublic)
    finally:
        service.stop()
        engine.dispose()
    return made.canonical_id


def test_explain_states_the_reason(env: dict[str, str | None], runtime: Runtime) -> None:
    url = env["CONCORD_DATABASE_URL"]
    assert url is not None
    customer = _held_customer(url, runtime)
    result = run(env, "explain", customer)
    assert result.exit_code == 0, result.output
    assert "BLOCKED (credit_hold)" in result.output and "lifecycle credit_hold" in result.output
    as_json = run(env, "explain", customer, "--json")
    assert '"category": "credit_hold"' in as_json.output
    unknown = run(env, "explain", "nobody")
    assert unknown.exit_code == 1 and "customer: no account" in unknown.output


def test_start_names_the_bad_field_before_sending(env: dict[str, str | None]) -> None:
    result = run(env, "lifecycle", "start", "amend-subscription", "customer_id=c1", "change_id=Q1", "seats=0")
    assert result.exit_code == 2 and "seats:" in result.output
    unknown = run(env, "lifecycle", "start", "refund", "customer_id=c1")
    assert unknown.exit_code == 2 and "process: unknown 'refund'" in unknown.output
