"""The bundled demo: its data is what the generator makes, and Concord's decisions on it are the expected ones."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from concord.cli.demo_cmd import sample_path
from concord.cli.main import build
from concord.demo.generate import generate


def test_shipped_sample_is_the_generator_output() -> None:
    shipped = [orjson.loads(line) for line in sample_path().read_bytes().splitlines()]
    assert shipped == generate()


def test_demo_reports_every_kind_of_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(build(), ["demo", "--no-live", "--workdir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    out = result.output
    # 300 customers: every 7th tries an illegal lifecycle jump, every 5th is renamed by support (approval),
    # every 4th gets an out-of-order credit update, every 3rd CRM create is re-sent with its key.
    expected = [("refused 409 (illegal lifecycle transition)", 42), ("pending", 60),
                ("replayed (same idempotency key)", 100), ("fields kept from stale (out-of-order) updates", 75),
                ("echoes suppressed", 300), ("rejected", 300)]
    for label, count in expected:
        assert re.search(rf"│ {re.escape(label)}\s*│ {count}\s*│", out), (label, out)
    assert "non-owner writes rejected: 300 fields" in out
    assert "cross-system ids: salesforce=" in out and "tryton=" in out
    assert "concord serve" in out
