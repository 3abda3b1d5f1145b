"""`concord tasks list / show / resolve --set / retry / cancel` against an embedded database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from concord.cli import common as cli_common
from concord.cli.identity import login_actor
from concord.cli.main import build
from concord.storage.engine import make_engine, upgrade
from concord.tasks import store
from concord.tasks.models import TaskCreate, TaskKind


@pytest.fixture
def task_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    opened = store.open_task(engine, TaskCreate(
        tenant="default", customer_id="c-9", workflow_id="onboard:default:c-9", process="onboard-customer",
        step="erp-create", attempt=1, kind=TaskKind.REJECTED, system="tryton", message="VAT not valid",
        fields=["tax_id"], correctable=["tax_id", "seats"], context={}, correlation_id="corr-9"))
    engine.dispose()
    return opened


def test_list_show_and_resolve_with_typed_values(task_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's Rich console measured its width when first imported (COLUMNS then is whatever it was): widen it.
    monkeypatch.setattr(cli_common.console, "width", 250)
    runner = CliRunner()
    listed = runner.invoke(build(), ["tasks", "list"])
    assert listed.exit_code == 0 and task_id in listed.output and "erp-create" in listed.output
    resolved = runner.invoke(build(), ["tasks", "resolve", task_id, "--set", "tax_id=BE0897290877",
                                       "--set", "seats=3"])
    assert resolved.exit_code == 0, resolved.output
    shown = runner.invoke(build(), ["tasks", "show", task_id])
    body = json.loads(shown.output)
    assert body["status"] == "resolved" and body["corrections"] == {"tax_id": "BE0897290877", "seats": 3}
    assert body["decided_by"] == login_actor()  # no key given: the OS login, never a typed-in name
    again = runner.invoke(build(), ["tasks", "cancel", task_id])
    assert again.exit_code == 1 and "resolved already" in again.output


def test_refusals_name_the_field(task_id: str) -> None:
    runner = CliRunner()
    bad = runner.invoke(build(), ["tasks", "resolve", task_id, "--set", "credit_limit=9"])
    assert bad.exit_code == 2 and "credit_limit" in bad.output
    malformed = runner.invoke(build(), ["tasks", "resolve", task_id, "--set", "tax_id"])
    assert malformed.exit_code == 2 and "field=value" in malformed.output
    assert runner.invoke(build(), ["tasks", "list", "--status", "weird"]).exit_code == 2
    assert runner.invoke(build(), ["tasks", "show", "task-nope"]).exit_code == 1
    retried = runner.invoke(build(), ["tasks", "retry", task_id])
    assert retried.exit_code == 0 and "retried" in retried.output
