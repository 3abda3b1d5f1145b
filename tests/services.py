"""Service availability for tests: outside CI a missing service skips with its name; with CI=true it fails."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("CONCORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{service} is not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: service tests must run, never skip)")
    pytest.skip(message)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a throw-away PostgreSQL database and yield its URL; dropped afterwards."""
    from sqlalchemy import create_engine, text

    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"concord_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
