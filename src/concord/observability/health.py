"""Readiness: the database, the event backend, and each configured system's reachability and credentials."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

import httpx
from sqlalchemy import Engine, select, text

from concord.connectors.base import AuthError, Connector, ConnectorError, DataRejected, NotFound
from concord.events import tables as et
from concord.events.hub import EventSettings

# A record id no system holds but every system's id syntax accepts (Tryton only looks up digits), so the probe is a
# real authenticated round trip that ends in "not found".
PROBE_ID = "0"
PROBE_TTL_S = 10.0  # readiness is polled every few seconds: answer from the last probe meanwhile
PROBE_TIMEOUT_S = 5.0  # a system that hangs must not hang /readyz
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
        except (NotFound, DataRejected):
            pass  # answered past authentication: "no such record" or "not an id of this object" (Salesforce)
        except AuthError as exc:
            return Check(name, "failing", exc.message, reachable=True, credentials="refused")
        except (ConnectorError, httpx.HTTPError) as exc:
            return Check(name, "failing", str(exc)[:200], reachable=False, credentials="unknown")
        return Check(name, "ok", "", reachable=True, credentials="ok",
                     latency_ms=(time.perf_counter() - started) * 1000)

    return probe


def _guarded(name: str, probe: SystemProbe) -> Check:
    try:
        return probe()
    except Exception as exc:  # a probe's bug reports the system as failing; readiness itself must answer
        return Check(name, "failing", f"probe error: {type(exc).__name__}", reachable=False)


class CachedProbe:
    """A probe answered from its last result for `ttl_s`, and cut off after `timeout_s` (the slow call goes on
    in the background; until it ends, readiness reports the time-out without starting another)."""

    def __init__(self, name: str, probe: SystemProbe, ttl_s: float = PROBE_TTL_S,
                 timeout_s: float = PROBE_TIMEOUT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self._probe, self._ttl, self._timeout, self._clock = name, probe, ttl_s, timeout_s, clock
        self._lock = threading.Lock()
        self._last: tuple[float, Check] | None = None
        self._running: Future[Check] | None = None
        # One thread per system: a hung call holds only its own system's probe.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"concord-probe-{name}")

    def __call__(self) -> Check:
        with self._lock:
            if self._last is not None and self._clock() - self._last[0] < self._ttl:
                return self._last[1]
            if self._running is None or self._running.done():
                self._running = self._pool.submit(_guarded, self.name, self._probe)
            running = self._running
        try:
            check = running.result(timeout=self._timeout)
        except FutureTimeout:
            check = Check(self.name, "failing", f"no answer within {self._timeout:g}s", reachable=False,
                          credentials="unknown")
        with self._lock:
            self._last = (self._clock(), check)
        return check


def system_probes(connectors: Mapping[str, Connector], ttl_s: float = PROBE_TTL_S,
                  timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, SystemProbe]:
    """One cached, time-limited probe per connector, reading its first declared object."""
    return {name: CachedProbe(name, connector_probe(name, c, c.capabilities.objects[0]), ttl_s, timeout_s)
            for name, c in connectors.items() if c.capabilities.objects}


def check_systems(configured: list[str], probes: Mapping[str, SystemProbe]) -> list[Check]:
    """A configured system without a probe is reported, not failed: this process holds no connector for it.
    Probes run side by side, so readiness takes as long as the slowest system, not their sum."""
    names = sorted(set(configured) | set(probes))
    with ThreadPoolExecutor(max_workers=max(len(probes), 1), thread_name_prefix="concord-ready") as pool:
        running = {name: pool.submit(_guarded, name, probes[name]) for name in names if name in probes}
        return [running[name].result() if name in running
                else Check(name, "not_configured", "no connector configured in this process") for name in names]
