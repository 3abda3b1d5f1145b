"""CLI steward commands under a `--key` are held to the key's tenant and scopes, as the API is: a key of another
tenant cannot link, split, unmerge, decide an approval or a task of this one. The refusal comes before anything
is looked at or changed, and names the tenant."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.matching.tables import match_reviews, merges
from concord.security.keys import create_key
from concord.security.scopes import ROLES
from concord.storage import tables as t
from concord.storage.engine import make_engine, upgrade
from concord.tasks.tables import workflow_tasks

TENANT, OTHER = "default", "acme-eu"


def _rows(engine: Engine) -> None:
    now = time.time()
    with engine.begin() as conn:
        conn.execute(insert(match_reviews).values(
            id="rev1", tenant=TENANT, entity="account", left_id="a", right_id="b", score=0.9, outcome="review",
            reason="r", evidence="[]", source="online", status="pending", created_at=now))
        conn.execute(insert(merges).values(
            id="mrg1", tenant=TENANT, entity="account", survivor_id="a", absorbed_id="b", snapshot="{}",
            merged_version=1, status="merged", actor="x", reason="", created_at=now))
        conn.execute(insert(t.approvals).values(
            id="apr1", tenant=TENANT, entity="account", canonical_id="a", field="name", value='"x"', current='"y"',
            owner="salesforce", system="zendesk", source_ts_us=1, change_id="c", correlation_id="c",
            status="pending", created_at=now))
        conn.execute(insert(workflow_tasks).values(
            id="tsk1", tenant=TENANT, customer_id="a", workflow_id="w", process="p", step="s", attempt=1,
            kind="failed", system="tryton", message="m", fields="[]", correctable="[]", context="{}",
            correlation_id="c", status="open", created_at=now))


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CONCORD_DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    _rows(engine)
    return engine


COMMANDS = [["review", "link", "rev1"], ["review", "split", "rev1"], ["unmerge", "mrg1"],
            ["approvals", "approve", "apr1"], ["approvals", "reject", "apr1"], ["tasks", "resolve", "tsk1"],
            ["tasks", "cancel", "tsk1"]]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_another_tenants_key_is_refused(db: Engine, command: list[str]) -> None:
    with db.begin() as conn:
        foreign = create_key(conn, tenant=OTHER, name="eve", scopes=ROLES["steward"], actor="test").token
        viewer = create_key(conn, tenant=TENANT, name="vic", scopes=ROLES["viewer"], actor="test").token
    refused = CliRunner().invoke(build(), [*command, "--key", foreign])
    assert refused.exit_code == 2 and f"tenant {TENANT!r}" in refused.output, refused.output
    weak = CliRunner().invoke(build(), [*command], env={"CONCORD_API_KEY": viewer})
    assert weak.exit_code == 2 and "lacks the scope" in weak.output, weak.output
    with db.connect() as conn:  # nothing was decided
        assert conn.execute(select(match_reviews.c.status)).scalar() == "pending"
        assert conn.execute(select(merges.c.status)).scalar() == "merged"
        assert conn.execute(select(t.approvals.c.status)).scalar() == "pending"
        assert conn.execute(select(workflow_tasks.c.status)).scalar() == "open"
