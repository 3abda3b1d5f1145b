"""The template database: built once per machine (modules + accounting setup), then copied for every server.

Building takes ~20 s (module activation dominates), copying a file takes milliseconds, so tests and the demo
always start from a copy. The template lives under `cache_dir/<key>/`, where the key hashes everything that
changes its content; a file lock makes parallel test workers wait for one build instead of racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from concord.sandbox.tryton import conffile
from concord.sandbox.tryton.launch import OFFLINE_FLAG
from concord.sandbox.tryton.settings import TrytonServerSettings

TEMPLATE_FILE = "template.sqlite"
META_FILE = "meta.json"


class CompanyAccounts(BaseModel):
    receivable: int
    payable: int
    revenue: int
    expense: int
    fiscalyear: int
    revenue_journal: int


class CompanyInfo(BaseModel):
    """One company of the template, with the ids an API caller must pass explicitly (the client would not)."""

    id: int
    name: str
    party: int
    currency: int
    currency_code: str
    employee: int
    accounts: CompanyAccounts


class TemplateMeta(BaseModel):
    companies: list[CompanyInfo]
    payment_term: int
    admin_user: int


@dataclass(frozen=True)
class TemplateInfo:
    key: str
    path: Path
    meta: TemplateMeta
    build_seconds: float | None  # None when an existing template was reused


class TemplateBuildError(RuntimeError):
    """A build step failed; the message carries the tail of its output."""


def trytond_available() -> bool:
    return importlib.util.find_spec("trytond") is not None and importlib.util.find_spec("proteus") is not None


def template_key(settings: TrytonServerSettings, year: int | None = None) -> str:
    """Hash of every input that changes the template's content, including the setup code itself.

    The year is part of it: fiscal years cover year-1..year+1, so a new year gets a fresh template.
    """
    parts = {
        "year": year or date.today().year,
        "modules": sorted(settings.modules),
        "trytond": importlib.metadata.version("trytond"),
        "admin": [settings.admin_login, settings.admin_password, settings.admin_email],
        "currencies": [settings.company_currency, settings.second_company, settings.second_company_currency],
        "setup": hashlib.sha256(Path(__file__).with_name("accounting.py").read_bytes()).hexdigest(),
        "config": conffile.render_config(settings, Path("/"), None),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _load(directory: Path, key: str) -> TemplateInfo | None:
    path, meta = directory / TEMPLATE_FILE, directory / META_FILE
    if not (path.is_file() and meta.is_file()):
        return None
    return TemplateInfo(key, path, TemplateMeta.model_validate_json(meta.read_text("utf-8")), None)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], env: dict[str, str], timeout: float, step: str) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TemplateBuildError(f"{step} did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-3000:]
        raise TemplateBuildError(f"{step} failed with exit code {done.returncode}:\n{tail}")


def _activate_modules(settings: TrytonServerSettings, conf: Path, build_dir: Path) -> None:
    passfile = build_dir / "admin.pass"
    passfile.write_text(settings.admin_password, encoding="utf-8")
    passfile.chmod(0o600)
    command = [
        sys.executable, "-m", "concord.sandbox.tryton.launch", "admin",
        *([OFFLINE_FLAG] if settings.offline_email else []), "-c", str(conf), "-d", settings.db_name,
        # Without --email a new database prompts on stdin and a CI run hangs.
        "--email", settings.admin_email, "--login", settings.admin_login,
        "--activate-dependencies", "-u", *settings.modules,
    ]
    env = conffile.clean_env({"TRYTONPASSFILE": str(passfile)})
    try:
        _run(command, env, settings.build_timeout_s, "trytond-admin")
    finally:
        passfile.unlink(missing_ok=True)


def _setup_accounting(settings: TrytonServerSettings, conf: Path, meta_out: Path, year: int) -> None:
    command = [
        sys.executable, "-m", "concord.sandbox.tryton.accounting", str(conf), settings.db_name, str(meta_out),
        "--currency", settings.company_currency, "--login", settings.admin_login, "--year", str(year),
    ]
    if settings.second_company:
        command += ["--second-company", settings.second_company_currency]
    _run(command, conffile.clean_env(), settings.build_timeout_s, "accounting setup")


def _build(settings: TrytonServerSettings, target: Path, year: int) -> None:
    build_dir = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(build_dir, ignore_errors=True)
    db_dir = build_dir / "db"
    db_dir.mkdir(parents=True)
    # trytond's SQLite backend opens an existing file only: the empty file is what "creates" the database.
    (db_dir / f"{settings.db_name}.sqlite").touch()
    conf = conffile.write_config(build_dir / "trytond.conf", settings, db_dir, None)
    try:
        _activate_modules(settings, conf, build_dir)
        _setup_accounting(settings, conf, build_dir / META_FILE, year)
        (db_dir / f"{settings.db_name}.sqlite").rename(build_dir / TEMPLATE_FILE)
        shutil.rmtree(db_dir)
        conf.unlink()
        shutil.rmtree(target, ignore_errors=True)  # a half-written leftover of an interrupted build
        os.replace(build_dir, target)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def ensure_template(settings: TrytonServerSettings, year: int | None = None) -> TemplateInfo:
    """Return the template for `settings`, building it first if this machine has none yet."""
    year = year or date.today().year
    key = template_key(settings, year)
    directory = settings.cache_dir / key
    found = _load(directory, key)
    if found is not None:
        return found
    with _locked(settings.cache_dir / f"{key}.lock"):
        found = _load(directory, key)  # another worker may have built it while we waited
        if found is not None:
            return found
        started = time.monotonic()
        _build(settings, directory, year)
        built = _load(directory, key)
        if built is None:
            raise TemplateBuildError(f"template build left no database in {directory}")
        return TemplateInfo(key, built.path, built.meta, time.monotonic() - started)
