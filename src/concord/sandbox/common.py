"""Pieces every sandbox twin shares: running an ASGI app on a loopback port, and vendor-style limiters."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class ServerHandle:
    """A running twin: its base URL and a way to stop it."""

    base_url: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_in_thread(app: Any, port: int = 0, host: str = "127.0.0.1") -> ServerHandle:
    """Start `app` under uvicorn in a daemon thread and return once it accepts connections."""
    port = port or free_port()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"twin-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"sandbox server on port {port} did not start")
        time.sleep(0.01)
    return ServerHandle(base_url=f"http://{host}:{port}", port=port, _server=server, _thread=thread)


@dataclass
class SlidingWindowLimiter:
    """At most `limit` requests in any `window_s` seconds, the way HubSpot's burst and Zendesk's limits count.

    `check()` returns 0.0 when the request may pass (and counts it) or the seconds to wait otherwise.
    """

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _hits: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> float:
        with self._lock:
            now = self.clock()
            while self._hits and now - self._hits[0] >= self.window_s:
                self._hits.popleft()
            if len(self._hits) >= self.limit:
                return max(self.window_s - (now - self._hits[0]), 0.001)
            self._hits.append(now)
            return 0.0

    def remaining(self) -> int:
        with self._lock:
            now = self.clock()
            live = sum(1 for hit in self._hits if now - hit < self.window_s)
            return max(self.limit - live, 0)


@dataclass
class DailyQuota:
    """A rolling daily request allowance, as Salesforce and HubSpot report it in response headers."""

    limit: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True
