"""What every CLI command shares: settings, the runtime, and turning config errors into clear messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from concord.hubconfig import Runtime, load_runtime
from concord.settings import Settings
from concord.storage.engine import make_engine, upgrade
from concord.yamlconf import ConfigError

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings() -> Settings:
    """The process settings; a bad CONCORD_* value ends the command with a message naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [f"CONCORD_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        raise fail("; ".join(problems)) from exc


def runtime(s: Settings) -> Runtime:
    try:
        return load_runtime(s.config_dir, s.mapping_sync_s)
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc


@contextmanager
def database(s: Settings) -> Iterator[Engine]:
    engine = make_engine(s.database_url, s.sqlite_synchronous)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
