"""The Tryton server harness: template reuse, config, start/stop/reset of a real trytond subprocess."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from concord.sandbox.tryton import (
    TrytonServer,
    TrytonServerError,
    TrytonServerSettings,
    ensure_template,
    template_key,
)
from concord.sandbox.tryton.conffile import clean_env, render_config
from tests.connectors.tryton import support
from tests.connectors.tryton.support import require_trytond, server_settings


def test_config_raises_session_limits_and_pins_the_listen_address() -> None:
    settings = TrytonServerSettings(session_timeout_s=7200, session_max_attempt=500)
    text = render_config(settings, Path("/srv/db"), 8123)
    assert "uri = sqlite://\npath = /srv/db" in text
    assert "timeout = 7200" in text and "max_attempt = 500" in text
    assert "[web]\nlisten = 127.0.0.1:8123" in text
    assert "[web]" not in render_config(settings, Path("/srv/db"), None)


def test_child_environment_drops_trytond_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRYTOND_DATABASE__URI", "postgresql://elsewhere")
    monkeypatch.setenv("TRYTONPASSFILE", "/tmp/other")
    env = clean_env({"TRYTONPASSFILE": "/tmp/mine"})
    assert "TRYTOND_DATABASE__URI" not in env
    assert env["TRYTONPASSFILE"] == "/tmp/mine"


def test_template_key_tracks_content_inputs() -> None:
    base = TrytonServerSettings()
    assert template_key(base, 2026) == template_key(TrytonServerSettings(), 2026)
    assert template_key(base, 2026) != template_key(base, 2027)
    assert template_key(base, 2026) != template_key(base.model_copy(update={"modules": ("party",)}), 2026)
    assert template_key(base, 2026) != template_key(base.model_copy(update={"second_company": False}), 2026)
    # where the database is served from does not change its content
    assert template_key(base, 2026) == template_key(base.model_copy(update={"db_name": "other", "port": 1}), 2026)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    require_trytond()
    # A db name other than the one the template was built under: the copy must not care.
    settings = server_settings(db_name="harness_copy", work_dir=tmp_path_factory.mktemp("tryton"))
    with TrytonServer(settings) as running:
        yield running


def rpc(server: TrytonServer, method: str, params: list[Any], session: str | None = None) -> Any:
    headers = {"Authorization": f"Session {session}"} if session else {}
    body = {"id": 1, "method": method, "params": params}
    answer = httpx.post(server.rpc_url, json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def login(server: TrytonServer) -> tuple[str, dict[str, Any]]:
    uid, token, _ = rpc(server, "common.db.login", [server.admin_login, {"password": server.admin_password},
                                                    "en"])["result"]
    session = base64.b64encode(f"{server.admin_login}:{uid}:{token}".encode()).decode()
    return session, rpc(server, "model.res.user.get_preferences", [True, {}], session)["result"]


@pytest.mark.tryton
def test_template_is_built_once_and_reused(server: TrytonServer) -> None:
    again = ensure_template(server.settings)
    assert again.build_seconds is None  # found on disk, not rebuilt
    assert again.path == server.template.path and again.path.stat().st_size > 1_000_000
    assert again.meta == server.meta


@pytest.mark.tryton
def test_server_serves_the_template_with_two_companies(server: TrytonServer) -> None:
    assert server.running and server.db == "harness_copy"
    _, preferences = login(server)
    main, europe = server.meta.companies
    assert (main.currency_code, europe.currency_code) == ("USD", "EUR")
    assert preferences["company"] == main.id
    assert sorted(preferences["companies"]) == sorted([main.id, europe.id])
    assert preferences["employee"] == main.employee


@pytest.mark.tryton
def test_reset_restores_the_template_on_the_same_url(server: TrytonServer) -> None:
    session, context = login(server)
    created = rpc(server, "model.party.party.create", [[{"name": "Temporary", "code": "TMP-1"}], context], session)
    assert created["result"]
    url = server.url
    server.reset()
    assert server.url == url and server.running
    assert httpx.post(server.rpc_url, json={"id": 1, "method": "model.party.party.search",
                                            "params": [[], 0, None, None, context]},
                      headers={"Authorization": f"Session {session}"}).status_code == 401  # sessions died too
    session, context = login(server)
    found = rpc(server, "model.party.party.search", [[["code", "=", "TMP-1"]], 0, None, None, context], session)
    assert found["result"] == []


@pytest.mark.tryton
def test_stop_frees_the_port_and_close_removes_an_owned_work_dir() -> None:
    require_trytond()
    temporary = TrytonServer(server_settings()).start()
    work = temporary.db_path.parent.parent
    port = int(temporary.url.rsplit(":", 1)[1])
    temporary.stop()
    assert not temporary.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert work.exists()
    temporary.close()
    assert not work.exists()


ORPHANING_SCRIPT = """
import os, sys
from pathlib import Path
from concord.sandbox.tryton import TrytonServer, TrytonServerSettings
settings = TrytonServerSettings(cache_dir=Path(sys.argv[1]), work_dir=Path(sys.argv[2]))
server = TrytonServer(settings).start()
print(server.pid, flush=True)
os._exit(0)  # die without stopping the server, as a killed test run would
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.tryton
def test_server_exits_when_its_starter_dies(server: TrytonServer, tmp_path: Path) -> None:
    script = [sys.executable, "-c", ORPHANING_SCRIPT, str(server.settings.cache_dir), str(tmp_path)]
    started = subprocess.run(script, capture_output=True, text=True, timeout=60, check=True)
    orphan = int(started.stdout.strip())
    deadline = time.monotonic() + 10
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(orphan)


@pytest.mark.tryton
def test_a_server_that_cannot_bind_fails_with_its_log() -> None:
    require_trytond()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TrytonServerError) as caught, TrytonServer(server_settings(port=port)):
            pass
    assert "exited during start-up" in str(caught.value)
    assert "in use" in str(caught.value)


def test_missing_trytond_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "trytond_available", lambda: False)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="trytond"):
        support.require_trytond()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="trytond"):
        support.require_trytond()
