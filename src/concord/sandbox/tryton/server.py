"""A real `trytond` on loopback, started from a copy of the template database.

    with TrytonServer(TrytonServerSettings()) as server:
        server.url, server.db, server.admin_password   # JSON-RPC at f"{server.url}/{server.db}/rpc/"
        server.reset()                                 # stop, copy the template back, start (~1 s)

Sessions live in the database, so a reset also logs every client out: clients see 401 and log in again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from concord.sandbox.common import free_port
from concord.sandbox.tryton import conffile
from concord.sandbox.tryton.launch import OFFLINE_FLAG, PARENT_FLAG
from concord.sandbox.tryton.settings import TrytonServerSettings
from concord.sandbox.tryton.template import TemplateInfo, TemplateMeta, ensure_template


class TrytonServerError(RuntimeError):
    """The server did not come up (or died); the message carries the tail of its log."""


class TrytonServer:
    """Start/stop/reset a trytond subprocess serving one SQLite database copied from the template."""

    def __init__(self, settings: TrytonServerSettings | None = None) -> None:
        self.settings = settings or TrytonServerSettings()
        self._template: TemplateInfo | None = None
        self._work_dir: Path | None = None
        self._owns_work_dir = False
        self._port = self.settings.port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.last_start_seconds: float | None = None

    # -- public surface ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self._port}"

    @property
    def rpc_url(self) -> str:
        return f"{self.url}/{self.db}/rpc/"

    @property
    def db(self) -> str:
        return self.settings.db_name

    @property
    def admin_login(self) -> str:
        return self.settings.admin_login

    @property
    def admin_password(self) -> str:
        return self.settings.admin_password

    @property
    def template(self) -> TemplateInfo:
        if self._template is None:
            self._template = ensure_template(self.settings)
        return self._template

    @property
    def meta(self) -> TemplateMeta:
        return self.template.meta

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def db_path(self) -> Path:
        return self._work() / "db" / f"{self.db}.sqlite"

    def start(self) -> TrytonServer:
        """Start serving; the working database is copied from the template unless it already exists (a
        `work_dir` kept between runs keeps its data, e.g. for the demo)."""
        if self.running:
            return self
        template = self.template
        if not self.db_path.exists():
            self._copy_template(template)
        self._spawn()
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def reset(self) -> None:
        """Back to the template's content: stop, copy the template over the working database, start."""
        self.stop()
        self._copy_template(self.template)
        self._spawn()

    def close(self) -> None:
        self.stop()
        if self._owns_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def __enter__(self) -> TrytonServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------------
    def _work(self) -> Path:
        if self._work_dir is None:
            if self.settings.work_dir is not None:
                self._work_dir = self.settings.work_dir
                self._work_dir.mkdir(parents=True, exist_ok=True)
            else:
                self._work_dir = Path(tempfile.mkdtemp(prefix="concord-tryton-"))
                self._owns_work_dir = True
        return self._work_dir

    def _copy_template(self, template: TemplateInfo) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm", "-journal"):  # stale side files would corrupt the fresh copy
            self.db_path.with_name(self.db_path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(template.path, self.db_path)

    def _spawn(self) -> None:
        # Keep the port across restarts so a client's base URL stays valid after reset().
        self._port = self._port or free_port()
        conf = conffile.write_config(self._work() / "trytond.conf", self.settings, self.db_path.parent, self._port)
        command = [
            sys.executable, "-m", "concord.sandbox.tryton.launch", "server",
            *([OFFLINE_FLAG] if self.settings.offline_email else []),
            PARENT_FLAG, str(os.getpid()), "-c", str(conf), "-d", self.db,
        ]
        self._log = (self._work() / "trytond.log").open("ab")
        started = time.monotonic()
        self._process = subprocess.Popen(
            command, env=conffile.clean_env(), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        probe = {"id": 0, "method": "common.server.version", "params": []}
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise TrytonServerError(f"trytond exited during start-up:\n{self._log_tail()}")
                try:
                    if http.post(f"{self.url}/rpc/", json=probe).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise TrytonServerError(
            f"trytond not ready on {self.url} after {self.settings.startup_timeout_s:.0f} s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        path = self._work() / "trytond.log"
        return path.read_text("utf-8", errors="replace")[-3000:] if path.exists() else ""
