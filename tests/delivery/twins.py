"""The Salesforce and Zendesk twins in-process, and a connections file pointing at them (sync loop tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from concord.sandbox.runner import Sandbox, SandboxSettings, sandbox


@contextmanager
def twins() -> Iterator[Sandbox]:
    with sandbox(SandboxSettings(tryton=False)) as box:
        yield box


def connections(box: Sandbox, path: Path, capture: list[dict[str, Any]] | None = None) -> Path:
    """Salesforce (captured: Account every 0.1 s unless `capture` says otherwise) and Zendesk (delivered to)."""
    s = box.settings
    salesforce: dict[str, Any] = {"connector": "salesforce", "config": {
        "login_url": box.urls["salesforce"], "client_id": s.salesforce.client_id,
        "client_secret": s.salesforce.client_secret}}
    salesforce["capture"] = capture if capture is not None else [
        {"object": "Account", "entity": "account", "tenant": "default", "every_s": 0.1}]
    zendesk = {"connector": "zendesk", "config": {"base_url": box.urls["zendesk"], "email": s.zendesk.email,
                                                  "api_token": s.zendesk.api_token}}
    path.write_text(yaml.safe_dump({"systems": {"salesforce": salesforce, "zendesk": zendesk}}), encoding="utf-8")
    return path


def eventually(check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """The first truthy value of `check()`, polled every 0.05 s; fails the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {check}"
        time.sleep(0.05)
