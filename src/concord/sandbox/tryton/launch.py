"""Entry point for the trytond child processes: `python -m concord.sandbox.tryton.launch {server|admin} ...`.

It runs trytond's own console scripts (`trytond`, `trytond-admin`) unchanged, with one optional adjustment:
`--offline-email` turns off the DNS *deliverability* part of trytond's e-mail validation. When the
`email_validator` package is importable, trytond checks the MX record of every user and party e-mail; on a
machine without DNS every domain "does not exist" and even `admin@example.com` (a null-MX domain) fails, so
tests would depend on the network. Syntax validation is kept, so a malformed address is still a UserError.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable

OFFLINE_FLAG = "--offline-email"
PARENT_FLAG = "--parent-pid"


def disable_email_deliverability() -> None:
    """Rebind trytond's validator before the modules that import it by name are loaded."""
    email_tools = importlib.import_module("trytond.tools.email_")
    original: Callable[..., str] = email_tools.validate_email

    def validate_email(email: str, check_deliverability: bool = True) -> str:
        return original(email, check_deliverability=False)

    setattr(email_tools, "validate_email", validate_email)  # noqa: B010 - a module object, untyped


def exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Stop this server when the process that started it is gone (a killed test run must not leave trytond
    behind holding its port): once re-parented, `getppid()` no longer returns the starter's pid."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _entry(kind: str) -> Callable[[], object]:
    # The console-script targets of `trytond` and `trytond-admin`; imported by name, trytond is untyped.
    modules = {"server": "trytond.cli", "admin": "trytond.cli.admin"}
    if kind not in modules:
        raise SystemExit(f"unknown trytond command {kind!r}; expected 'server' or 'admin'")
    entry: Callable[[], object] = importlib.import_module(modules[kind]).main
    return entry


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: launch {server|admin} [--offline-email] [--parent-pid PID] ARGS...")
    kind, rest = args[0], args[1:]
    if PARENT_FLAG in rest:
        at = rest.index(PARENT_FLAG)
        exit_with_parent(int(rest[at + 1]))
        del rest[at : at + 2]
    if OFFLINE_FLAG in rest:
        rest.remove(OFFLINE_FLAG)
        disable_email_deliverability()
    entry = _entry(kind)
    sys.argv = [f"trytond-{kind}" if kind == "admin" else "trytond", *rest]
    result = entry()
    raise SystemExit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
