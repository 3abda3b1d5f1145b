"""Readiness: the database, the event backend, and each configured system's reachability and credentials."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

import httpx
from sqlalchemy import Engine, select, text

from concord.connectors.base import AuthError, Connector, ConnectorError, NotFound
from concord.events import tables as et
from concord.events.hub import EventSettings

PROBE_ID = "concord-readiness-probe"
Status = Literal["ok", "failing", "not_configured"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str = ""
    reachable: bool | None = None
    credentials: Literal["ok", "refused", "unknown"] | None = None
    latency_ms: float | None = None


SystemProbe = Callable[[], Check]


def check_database(engine: Engine) -> Check:
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports any failure, it must not raise
        return Check("database", "failing", type(exc).__name__)
    return Check("database", "ok", engine.dialect.name, latency_ms=(time.perf_counter() - started) * 1000)


def check_event_backend(settings: EventSettings, engine: Engine) -> Check:
    if settings.backend == "nats":
        parsed = urlparse(settings.nats_url)
        try:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=2):
                pass
        except OSError as exc:
            return Check("events", "failing", f"nats unreachable: {exc.strerror or exc}")
        return Check("events", "ok", f"nats {parsed.hostname}:{parsed.port}")
    try:
        with engine.connect() as conn:
            conn.execute(select(et.event_log.c.offset).limit(1))
    except Exception as exc:
        return Check("events", "failing", f"embedded log unreadable: {type(exc).__name__}")
    return Check("events", "ok", "embedded log")


def connector_probe(name: str, connector: Connector, obj: str) -> SystemProbe:
    """Probe a system with one cheap authenticated read: a record that does not exist. "Not found" proves the
    system answered and accepted the credentials without touching real data."""

    def probe() -> Check:
        started = time.perf_counter()
        try:
            connector.read(obj, PROBE_ID)
        except NotFound:
            pass
        except AuthError as exc:
            return Check(name, "failing", exc.message, reachable=True, credentials="refused")
        except (ConnectorError, httpx.HTTPError) as exc:
            return Check(name, "failing", str(exc)[:200], reachable=False, credentials="unknown")
        return Check(name, "ok", "", reachable=True, credentials="ok",
                     latency_ms=(time.perf_counter() - started) * 1000)

    return probe


def check_systems(configured: list[str], probes: dict[str, SystemProbe]) -> list[Check]:
    """A configured system without a probe is reported, not failed: this process holds no connector for it."""
    checks = []
    for name in sorted(set(configured) | set(probes)):
        probe = probes.get(name)
        if probe is None:
            checks.append(Check(name, "not_configured", "no connector configured in this process"))
            continue
        try:
            checks.append(probe())
        except Exception as exc:
            checks.append(Check(name, "failing", f"probe error: {type(exc).__name__}", reachable=False))
    return checks
