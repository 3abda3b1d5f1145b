"""`concord serve --connections FILE`: a bad systems file stops the command with file, line and field named,
before anything listens."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from concord.cli.main import build


def test_a_bad_connections_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    systems = tmp_path / "systems.yaml"
    systems.write_text("stripe:\n  base_url: ftp://billing.example\n  api_key: sk_test_x\n")
    env = {"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "CONCORD_AUTH": "disabled"}
    result = CliRunner().invoke(build(), ["serve", "--connections", str(systems)], env=env)
    assert result.exit_code == 2, result.output
    message = "".join(result.output.split())
    assert "systems.yaml:2" in message and "stripe.base_url" in message


def test_serve_names_the_option_in_its_help() -> None:
    result = CliRunner().invoke(build(), ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--connections" in result.output and "CONCORD_CONNECTIONS" in result.output
