"""`concord ingest` and `concord show customer` against a real database file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from concord.cli.main import build


def _line(i: int, **over: object) -> bytes:
    change = {"system": "salesforce", "entity": "account", "external_id": f"001{i}", "fields": {"Name": f"C{i}"},
              "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": f"cli-{i}", **over}
    return orjson.dumps(change)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONCORD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_ingest_file_then_show_customer(env: Path) -> None:
    source = env / "changes.jsonl"
    source.write_bytes(b"\n".join(_line(i) for i in range(25)) + b"\n")
    runner = CliRunner()
    result = runner.invoke(build(), ["ingest", str(source), "--batch", "10"])
    assert result.exit_code == 0, result.output
    assert "applied=25" in result.output
    again = runner.invoke(build(), ["ingest", str(source)])
    assert "replayed=25" in again.output
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{env / 'cli.db'}")
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT canonical_id FROM bindings WHERE external_id = '0013'")).scalar()
    engine.dispose()
    shown = runner.invoke(build(), ["show", "customer", str(cid)])
    assert shown.exit_code == 0 and "C3" in shown.output and "salesforce/account@1" in shown.output
    missing = runner.invoke(build(), ["show", "customer", "nope"])
    assert missing.exit_code == 1 and "no customer nope" in missing.output


def test_ingest_names_bad_lines_and_fields(env: Path) -> None:
    source = env / "bad.jsonl"
    source.write_bytes(b"\n".join([_line(1), b"{not json", _line(2, source_ts="soon"),
                                   _line(3, fields={"Nmae": "typo"})]) + b"\n")
    result = CliRunner().invoke(build(), ["ingest", str(source)])
    assert result.exit_code == 1
    output = "".join(result.output.split("\n"))  # long temp paths wrap at the console's width
    assert f"{source}:2: not JSON" in output
    assert f"{source}:3: source_ts" in output
    assert "Nmae: unknown field" in output
    assert "applied=1" in output
