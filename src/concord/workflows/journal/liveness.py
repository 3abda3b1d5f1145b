"""Which executors are dead, so that a live one may take over their unfinished runs.

Every executor registers a row and refreshes its heartbeat; one is dead when its row is gone (it stopped and
deregistered), its heartbeat is older than the time-to-live, or it ran on this host under a process that no
longer exists (a SIGKILLed worker restarted on the same machine is resumed at once, not after the TTL) or under
this very process id (an earlier incarnation in a container that restarted as pid 1). A run is owned by one
executor at a time; taking it over names the previous owner, so two executors never both take it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence

from concord.workflows.journal.store import ExecutorRow


def host_name() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs here (a zombie — killed, not yet reaped — does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no procfs: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def dead_owners(owners: Sequence[str], executors: Sequence[ExecutorRow], me: str, host: str, pid: int,
                ttl_s: float, now: float, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """The owners of unfinished runs that are dead (never `me`)."""
    rows = {e.executor_id: e for e in executors}
    dead = []
    for owner in owners:
        if owner == me:
            continue
        row = rows.get(owner)
        gone = row is None or now - row.heartbeat_at > ttl_s
        if gone or (row is not None and row.host == host and (row.pid == pid or not alive(row.pid))):
            dead.append(owner)
    return dead
