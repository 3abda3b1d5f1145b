"""Secure headers on every answer, the console's CSRF guard, and `concord serve --tls-cert/--tls-key`."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from concord.api.problems import install_problem_handlers
from concord.cli.main import build
from concord.sandbox.common import free_port
from concord.security.csrf import COOKIE, FIELD, CsrfGuard, csrf_protect, issue_csrf
from concord.security.headers import SecureHeadersMiddleware
from concord.security.scopes import Scope
from tests.security.conftest import World


def test_every_answer_carries_secure_headers(world: World) -> None:
    for response in (world.client.get("/healthz"), world.client.get("/api/v1/approvals"),
                     world.client.get("/nowhere")):
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert world.client.get("/api/v1/approvals").headers["cache-control"] == "no-store"
    assert "content-security-policy" not in world.client.get("/docs").headers  # Swagger UI comes from a CDN


@pytest.fixture
def console() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(SecureHeadersMiddleware)
    app.state.csrf = CsrfGuard(b"k" * 32, secure_cookie=False)

    @app.get("/console/form")
    def form(request: Request, response: Response) -> dict[str, str]:
        return {"token": issue_csrf(request, response)}

    @app.post("/console/form", dependencies=[Depends(csrf_protect)])
    def submit() -> dict[str, bool]:
        return {"saved": True}

    return TestClient(app)


def test_form_post_needs_the_double_submitted_signed_token(console: TestClient) -> None:
    token = console.get("/console/form").json()["token"]
    assert console.cookies.get(COOKIE) == token
    assert console.post("/console/form", data={FIELD: token}).json() == {"saved": True}
    assert console.post("/console/form", headers={"X-CSRF-Token": token}).json() == {"saved": True}
    refused = console.post("/console/form", data={FIELD: "1.2.3"})
    assert refused.status_code == 403 and refused.json()["field"] == FIELD
    assert console.post("/console/form", data={}).status_code == 403
    console.cookies.clear()  # a cross-site form has no cookie of ours to double-submit
    assert console.post("/console/form", data={FIELD: token}).status_code == 403


def test_console_login_cookie_carries_the_key(world: World) -> None:
    viewer = world.key("default", frozenset({Scope.CHANGES_READ}), name="browser")
    world.client.cookies.set("concord_key", viewer)
    try:
        assert world.client.get("/api/v1/approvals").status_code == 200
        assert world.client.get("/api/v1/keys").status_code == 403
    finally:
        world.client.cookies.clear()
    assert world.client.get("/api/v1/approvals").status_code == 401


def test_tokens_are_signed_and_expire() -> None:
    guard, other = CsrfGuard(b"a" * 32, max_age_s=60), CsrfGuard(b"b" * 32)
    token = guard.issue(now=1000)
    assert guard.verify(token, token, now=1030)
    assert not guard.verify(token, token, now=1061)
    assert not other.verify(token, token, now=1030)
    forged = token.rsplit(".", 1)[0] + ".AAAA"
    assert not guard.verify(forged, forged, now=1030)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.slow
def test_serve_speaks_tls_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONCORD_LOG_LEVEL": "warning"}
    # stderr goes to a file: reading a pipe for the failure message would block while a slow server still runs.
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "concord", "serve", "--port", str(port), "--tls-cert", str(cert),
                             "--tls-key", str(key)], env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    context = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"https://localhost:{port}/healthz", verify=context, timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
        assert response.json() == {"status": "ok"} and "strict-transport-security" in response.headers
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://localhost:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    result = CliRunner().invoke(build(), ["serve", "--tls-cert", str(tmp_path / "x.pem")],
                                env={"CONCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert result.exit_code == 2 and "--tls-key" in result.output
