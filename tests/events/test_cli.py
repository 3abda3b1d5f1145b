"""`concord dlq`, `concord replay`, `concord events relay|consume|subscriptions` on an embedded database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from concord.cli import common
from concord.cli.main import build
from concord.events.consumer import Backoff, SubscriptionRunner
from concord.events.embedded import EmbeddedLog
from concord.events.registry import SchemaRegistry
from concord.events.relay import publish
from concord.events.store import ConsumerStore
from concord.storage.engine import make_engine, upgrade
from tests.events.support import Recorder, changed

EVENTS_YAML = """subscriptions:
  signals:
    events: [CustomerUpdated]
    subscriber: {kind: workflow_signal, workflow: wf, signal: s}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common.console, "_width", 250)  # wide tables, whatever terminal the run has
    config = tmp_path / "config"
    config.mkdir()
    from concord.hubconfig import bundled_config_dir

    for name in ("concord.yaml", "ownership.yaml"):
        (config / name).write_text((bundled_config_dir() / name).read_text())
    (config / "events.yaml").write_text(EVENTS_YAML)
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'concord.db'}", "CONCORD_CONFIG_DIR": str(config),
            "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL", "CONCORD_EVENTS_BACKEND": "embedded"}


def run(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(build(), list(args), env=env)


def test_dead_letters_list_show_retry_and_discard(env: dict[str, str | None], tmp_path: Path) -> None:
    engine = make_engine(str(env["CONCORD_DATABASE_URL"]), sqlite_synchronous="NORMAL")
    upgrade(engine)
    registry = SchemaRegistry.default()
    log = EmbeddedLog(engine)
    bad, worse = changed("c1", 0), changed("c2", 0)
    publish(log, registry, [bad, worse])
    rec = Recorder(poison={bad.event_id, worse.event_id})
    runner = SubscriptionRunner("signals", log, engine, rec, registry, max_attempts=2, backoff=Backoff(0.0))
    assert runner.drain().dead_lettered == 2

    listed = run(env, "dlq", "list")
    assert listed.exit_code == 0 and listed.output.count("signals") == 2 and "Boom: cannot" in listed.output
    first, second = ConsumerStore(engine).dead_letters("signals")
    shown = run(env, "dlq", "show", str(first.id))
    assert shown.exit_code == 0 and bad.event_id in shown.output and "attempts: 2" in shown.output
    assert run(env, "dlq", "show", "999").exit_code == 2

    rec.poison.clear()
    assert run(env, "dlq", "retry", str(first.id)).exit_code == 0
    assert run(env, "dlq", "discard", str(second.id)).exit_code == 0
    assert run(env, "dlq", "retry", str(second.id)).exit_code == 2  # already decided
    assert runner.drain().retried == 1
    assert [e.event_id for e in rec.seen] == [bad.event_id]
    assert "discarded" not in run(env, "dlq", "list").output
    assert worse.event_id in run(env, "dlq", "list", "--status", "discarded").output
    engine.dispose()


def test_relay_consume_and_replay_from_the_cli(env: dict[str, str | None]) -> None:
    engine = make_engine(str(env["CONCORD_DATABASE_URL"]), sqlite_synchronous="NORMAL")
    upgrade(engine)
    publish(EmbeddedLog(engine), SchemaRegistry.default(), [changed("c1", i) for i in range(3)])
    consumed = run(env, "events", "consume")
    assert consumed.exit_code == 0 and "signals: processed 3" in consumed.output
    replayed = run(env, "replay", "--subscription", "signals", "--from", "1", "--customer", "c1")
    assert replayed.exit_code == 0 and "scanned 3, delivered 3, failed 0" in replayed.output
    by_time = run(env, "replay", "--subscription", "signals", "--from", "2000-01-01T00:00:00")
    assert "delivered 3" in by_time.output
    assert run(env, "replay", "--subscription", "nope", "--from", "1").exit_code == 2
    assert run(env, "replay", "--subscription", "signals", "--from", "yesterday").exit_code == 2
    relayed = run(env, "events", "relay")
    assert relayed.exit_code == 0 and "published 0" in relayed.output
    assert "workflow_signal" in run(env, "events", "subscriptions").output
    engine.dispose()
