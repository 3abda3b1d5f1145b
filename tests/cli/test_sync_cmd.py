"""`concord sync --connections FILE`: the embedded sync loop in the foreground, refused in scale mode and for a
bad capture entry (naming the field); `concord serve` refuses a bad capture entry before it listens."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.cli.sync_cmd import run_sync
from concord.delivery.store import DeliveryStore
from concord.hubconfig import Runtime
from concord.ingest.service import IngestService
from concord.settings import Settings
from concord.storage import tables as t
from concord.storage.engine import make_engine, upgrade
from tests.delivery.twins import connections, eventually, twins
from tests.factories import change

BAD_CAPTURE = ("systems:\n  salesforce:\n    connector: salesforce\n    config:\n      login_url: http://127.0.0.1:9\n"
               "      client_id: cid\n      client_secret: secret-value\n    capture:\n"
               "      - {object: Account, entity: invoice}\n")


def _env(tmp_path: Path) -> dict[str, str]:
    return {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "CONCORD_AUTH": "disabled", "COLUMNS": "300"}


def test_sync_refuses_to_run_in_scale_mode(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(BAD_CAPTURE, encoding="utf-8")
    result = CliRunner().invoke(build(), ["sync", "--connections", str(path)],
                                env={**_env(tmp_path), "CONCORD_SCALE": "true"})
    assert result.exit_code == 2 and "CONCORD_SCALE" in result.output, result.output


def test_sync_and_serve_name_a_bad_capture_field(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(BAD_CAPTURE, encoding="utf-8")
    for command in (["sync"], ["serve"]):
        result = CliRunner().invoke(build(), [*command, "--connections", str(path)], env=_env(tmp_path))
        message = "".join(result.output.split())
        assert result.exit_code == 2, result.output
        assert "systems.yaml:9:systems.salesforce.capture[0].entity" in message, result.output


def test_sync_delivers_until_stopped(runtime: Runtime, tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", sqlite_synchronous="NORMAL",
                        sync_idle_s=0.1)
    with twins() as box:
        path = connections(box, tmp_path / "systems.yaml")
        stop = threading.Event()
        summary: list[str] = []
        engine = make_engine(settings.database_url)
        upgrade(engine)  # so the test's own look at the cursor cannot race the command's migrations
        worker = threading.Thread(target=lambda: summary.append(run_sync(settings, runtime, path, stop)))
        worker.start()
        try:
            eventually(lambda: DeliveryStore(engine).has_cursor("default", "salesforce", "Account"))
            service = IngestService(engine, runtime)
            service.start()
            try:
                service.ingest([change("salesforce", "001CLI", {"Name": "Foreground Ltd"})])
            finally:
                service.stop()
            eventually(lambda: _delivered(engine))
        finally:
            stop.set()
            worker.join(timeout=30)
            engine.dispose()
    assert not worker.is_alive() and summary and "1 commands delivered" in summary[0], summary


def _delivered(engine: Engine) -> bool:
    o = t.outbox.c
    with engine.connect() as conn:
        return conn.execute(select(o.seq).where(o.kind == "command", o.published_at.is_not(None))).first() is not None


def test_serve_and_sync_name_their_options_in_help() -> None:
    serve = CliRunner().invoke(build(), ["serve", "--help"], env={"COLUMNS": "200"})
    sync = CliRunner().invoke(build(), ["sync", "--help"], env={"COLUMNS": "200"})
    assert serve.exit_code == 0 and "--no-sync" in serve.output and "CONCORD_SYNC" in serve.output
    assert sync.exit_code == 0 and "--connections" in sync.output and "SIGTERM" in sync.output
