"""A 3-node NATS JetStream cluster on loopback ephemeral ports, each node with its own config and store dir,
separate from the machine's single server; nodes can be killed and started again."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import nats

NATS_SERVER = "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(name: str, port: int, cluster_port: int, routes: list[int], store: Path) -> str:
    route_list = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
    return (f'server_name: "{name}"\nlisten: "127.0.0.1:{port}"\n'
            f'jetstream {{ store_dir: "{store}", max_memory_store: 268435456, max_file_store: 4294967296 }}\n'
            f'cluster {{ name: "concord_test", listen: "127.0.0.1:{cluster_port}", routes: [{route_list}] }}\n')


class NatsCluster:
    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.workdir = workdir
        self.ports = [free_port() for _ in range(size)]
        self.cluster_ports = [free_port() for _ in range(size)]
        self.configs: list[Path] = []
        for i in range(size):
            store = workdir / f"n{i}"
            store.mkdir(parents=True, exist_ok=True)
            conf = workdir / f"n{i}.conf"
            conf.write_text(_config(f"n{i}", self.ports[i], self.cluster_ports[i], self.cluster_ports, store))
            self.configs.append(conf)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size

    @property
    def urls(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def start(self, i: int) -> None:
        log = (self.workdir / f"n{i}.log").open("ab")
        self.procs[i] = subprocess.Popen([NATS_SERVER, "-c", str(self.configs[i])], stdout=log, stderr=log)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
            self.procs[i] = None

    def __enter__(self) -> NatsCluster:
        for i in range(len(self.ports)):
            self.start(i)
        self.wait_ready()
        return self

    def __exit__(self, *_: object) -> None:
        for i in range(len(self.ports)):
            self.kill(i)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until JetStream answers with a meta leader (the cluster formed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if asyncio.run(self._ready()):
                return
            time.sleep(0.3)
        raise AssertionError(f"NATS cluster not ready after {timeout_s}s (logs in {self.workdir})")

    async def _ready(self) -> bool:
        try:
            nc = await nats.connect(servers=self.urls.split(","), connect_timeout=1, allow_reconnect=False)
        except Exception:
            return False
        try:
            info = await nc.jetstream().account_info()
            return info is not None
        except Exception:
            return False
        finally:
            await nc.close()

    def replicas_current(self, stream: str) -> bool:
        return asyncio.run(self._current(stream))

    async def _current(self, stream: str) -> bool:
        nc = await nats.connect(servers=self.urls.split(","), connect_timeout=1, allow_reconnect=False)
        try:
            info = await nc.jetstream().stream_info(stream)
            cluster = info.cluster
            if cluster is None or not cluster.replicas:
                return False
            return all(r.current and not r.offline and not r.lag for r in cluster.replicas)
        except Exception:
            return False
        finally:
            await nc.close()
