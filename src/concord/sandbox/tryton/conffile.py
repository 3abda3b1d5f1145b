"""The trytond configuration file and the environment its processes run with."""

from __future__ import annotations

import os
from pathlib import Path

from concord.sandbox.tryton.settings import TrytonServerSettings


def render_config(settings: TrytonServerSettings, db_dir: Path, port: int | None) -> str:
    """The INI text trytond reads. `port=None` for the admin/build steps, which serve nothing."""
    lines = [
        "[database]",
        "uri = sqlite://",
        f"path = {db_dir}",
        "",
        "[session]",
        f"timeout = {settings.session_timeout_s}",
        f"max_attempt = {settings.session_max_attempt}",
        f"max_attempt_ip_network = {settings.session_max_attempt * 10}",
        "",
        "[password]",
        "length = 8",
        "",
    ]
    if port is not None:
        # A `[web] listen` line wins over TRYTOND_WEB__LISTEN, so the file is the single source of truth.
        lines += ["[web]", f"listen = {settings.host}:{port}", ""]
    return "\n".join(lines)


def write_config(path: Path, settings: TrytonServerSettings, db_dir: Path, port: int | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(settings, db_dir, port), encoding="utf-8")
    return path


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any TRYTOND_* override, which would silently redirect the database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRYTOND")}
    env.pop("DB_NAME", None)
    env.pop("TRYTONPASSFILE", None)
    env.update(extra or {})
    return env
