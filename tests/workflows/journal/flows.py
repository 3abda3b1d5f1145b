"""Workflows shared by the takeover test and its worker process (both register them under the same names)."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel

from concord.workflows.journal import step, workflow


class Release(BaseModel):
    path: str


@step("takeover-wait")
def wait_for_release(data: Release) -> str:
    """Marks that it started (one line per execution), then waits until the test creates the release file."""
    with open(data.path + ".entered", "a") as marks:
        marks.write("entered\n")
    while not Path(data.path).exists():
        time.sleep(0.01)
    return "released"


@step("takeover-after")
def after(value: str) -> str:
    return value + " and finished"


@workflow("test-journal-takeover")
def released(data: Release) -> str:
    return after(wait_for_release(data))
