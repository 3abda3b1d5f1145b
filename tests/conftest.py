"""Shared fixtures: a migrated database on SQLite and (marked `postgres`) on PostgreSQL, and the runtime."""

from __future__ import annotations

import ast
import importlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from concord.hubconfig import Runtime, load_runtime
from concord.ingest.service import IngestService
from concord.storage.engine import make_engine, upgrade
from tests.services import fresh_postgres_database, in_ci

# schemathesis's pytest plugin imports its report writer only when the session finishes; importing it there ran
# pytest's assertion rewriter at the very end and once crashed the whole session with CPython 3.11's "AST
# constructor recursion depth mismatch". Import it up front so the end of a session compiles nothing.
importlib.import_module("schemathesis.reporting.html.writer")

# CPython 3.11 keeps the AST converter's recursion counter in module-global state (gh-106905), so two threads
# running ast.parse at once can fail one with "SystemError: AST constructor recursion depth mismatch" — seen in CI
# when hypothesis described a schemathesis strategy (it parses the strategy's source) while another thread parsed
# too. Every Python-level parser (hypothesis, pytest's assertion rewriter) goes through ast.parse: serialise it.
_ast_parse, _ast_lock = ast.parse, threading.RLock()


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialised_parse  # type: ignore[assignment]

# CI replays the same examples every run (a red build must be reproducible); local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if in_ci() else "dev")


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return load_runtime(None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on both databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'concord.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url, sqlite_synchronous="NORMAL")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def ingest(engine: Engine, runtime: Runtime) -> Iterator[IngestService]:
    service = IngestService(engine, runtime)
    service.start()
    yield service
    service.stop()


# --- The log test (issue #7) ------------------------------------------------------------------------------------
# Every log line of the whole suite is rendered by Concord's JSON formatter (the one `concord serve` installs), and
# the session fails if any rendered line still holds an email address, phone number or tax id.
class _PiiLeakCatcher(logging.Handler):
    def __init__(self) -> None:
        from concord.observability.logs import json_formatter

        super().__init__(level=logging.DEBUG)
        self.setFormatter(json_formatter())
        self.lines = 0
        self.leaks: list[str] = []
        self.untenanted: list[str] = []  # issue #8: every line names its tenant ("-" when none)

    def emit(self, record: logging.LogRecord) -> None:
        from concord.observability.pii import leaks_in

        try:
            line = self.format(record)
        except Exception as exc:  # a line that cannot be rendered is reported, not lost
            line = f"unrenderable log record from {record.name}: {exc!r}"
        self.lines += 1
        found = leaks_in(line)
        if found and len(self.leaks) < 50:
            self.leaks.append(f"{record.name}: {', '.join(found)} in {line[:300]}")
        if '"tenant":' not in line and len(self.untenanted) < 50:
            self.untenanted.append(f"{record.name}: {line[:300]}")


_PII_CATCHER_KEY = pytest.StashKey[_PiiLeakCatcher]()


def pytest_configure(config: pytest.Config) -> None:
    from concord.observability.logs import configure_structlog

    configure_structlog()
    catcher = _PiiLeakCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)  # INFO lines are what production emits: check them all
    config.stash[_PII_CATCHER_KEY] = catcher


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    catcher = session.config.stash.get(_PII_CATCHER_KEY, None)
    if catcher is not None and (catcher.leaks or catcher.untenanted):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    catcher = terminalreporter.config.stash.get(_PII_CATCHER_KEY, None)
    if catcher is None:
        return
    if catcher.leaks:
        terminalreporter.section("PII in log lines (the log test failed)", red=True)
        for leak in catcher.leaks:
            terminalreporter.line(leak)
    if catcher.untenanted:
        terminalreporter.section("log lines without a tenant (the log test failed)", red=True)
        for line in catcher.untenanted:
            terminalreporter.line(line)
    if not catcher.leaks and not catcher.untenanted:
        terminalreporter.line(f"log test: {catcher.lines} log lines checked, no unmasked email, phone or tax id, "
                              "each with its tenant")
