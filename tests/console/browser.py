"""Browser test plumbing: Debian's Chromium driven by Playwright (never a downloaded browser), a live server,
console-error collection and screenshots as artefacts."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from concord.sandbox.common import free_port
from tests.services import in_ci

CHROMIUM = os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def artifacts_dir() -> Path:
    """Screenshots go to $CONCORD_ARTIFACTS, else tests/artifacts (git-ignored)."""
    target = Path(os.environ.get("CONCORD_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


def require_chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found:
        return found
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if in_ci():
        pytest.fail(f"{message}; CI=true: browser tests must run")
    pytest.skip(message)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Run the app under uvicorn with its lifespan (database, ingest writer) on a free port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"console-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("console server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class ConsoleErrors:
    """Everything the browser reported as an error: console.error lines, uncaught exceptions, failed requests."""

    seen: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda msg: self.seen.append(f"console.{msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.seen.append(f"pageerror: {exc}"))
        page.on("requestfailed", lambda req: self.seen.append(f"requestfailed: {req.url} {req.failure}"))
