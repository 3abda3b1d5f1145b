"""`concord ingest` refuses a JSON line with a NUL anywhere in it, naming the line and the field's path, and
writes nothing of that line (PostgreSQL text cannot store U+0000), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from typer.testing import CliRunner

from concord.cli.main import build
from concord.storage.engine import make_engine
from concord.storage.tables import bindings, change_log


def _line(ext: str, fields: dict[str, Any], key: str) -> bytes:
    return orjson.dumps({"system": "salesforce", "entity": "account", "external_id": ext, "fields": fields,
                         "source_ts": "2026-03-01T12:00:00Z", "idempotency_key": key})


def test_ingest_names_line_and_field_of_a_nul_and_stores_nothing_of_it(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "changes.jsonl"
    source.write_bytes(b"\n".join([
        _line("001A", {"Name": "Acme"}, "n1"),
        _line("001B", {"Name": "Bad\x00Name"}, "n2"),
        b'{"system": "salesforce", "entity": "account", "external_id": "001\\u0000C", "fields": {}}',
        _line("001D", {"Name": "Zebra Holdings"}, "n4"),
    ]) + b"\n")
    result = CliRunner().invoke(build(), ["ingest", str(source)], env={
        "CONCORD_DATABASE_URL": database_url, "CONCORD_SQLITE_SYNCHRONOUS": "NORMAL", "COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    assert f"{source}:2: fields.Name: NUL characters are not allowed" in result.stderr
    assert f"{source}:3: external_id: NUL characters are not allowed" in result.stderr
    assert "invalid_lines=2" in result.stdout
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            keys = set(conn.execute(select(change_log.c.idempotency_key)).scalars())
            externals = set(conn.execute(select(bindings.c.external_id)).scalars())
            assert conn.execute(select(func.count()).select_from(change_log)).scalar_one() == 2
    finally:
        engine.dispose()
    assert keys == {"n1", "n4"} and externals == {"001A", "001D"}


def test_task_corrections_refuse_a_json_nul_escape(tmp_path: Path) -> None:
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    refused = CliRunner().invoke(build(), ["tasks", "resolve", "task-1", "--set", 'tax_id="BE\\u00000897"'],
                                 env=env)
    assert refused.exit_code == 2 and "--set tax_id: NUL characters are not allowed" in refused.output
    nested = CliRunner().invoke(build(), ["tasks", "resolve", "task-1", "--set", 'address={"city": "a\\u0000"}'],
                                env=env)
    assert nested.exit_code == 2 and "--set address.city: NUL" in nested.output
    assert not (tmp_path / "c.db").exists()  # refused before the database was opened
