"""Admission control for the ingest queue: an outside caller is told to come back later (HTTP 503 with
Retry-After) instead of joining a queue that would keep it waiting for many seconds (decision 086).

Without it, a sender faster than the writer (bench/ingest's open-loop row: offered 5,000/s, taken ~4,300/s) grew
the in-memory queue without end: every acknowledgement later than the one before, memory rising, callers timing
out while their changes still sat in the queue — to be committed after they gave up and sent them again. A
refusal here happens before anything is queued, so nothing of the request is written and a retry with the same
idempotency key is a first attempt, not a replay.
"""

from __future__ import annotations

import math
import threading
import time

# Changes waiting for the writer beyond which outside callers are refused: 3.5 to 5.5 s of work at the 2-core box's
# 3,600 to 5,800 changes/s (bench/ingest), well inside an HTTP client's usual 30 to 60 s timeout.
DEFAULT_MAX_WAITING = 20_000
RATE_WEIGHT = 0.2  # weight of the newest batch in the commit-rate estimate: a few batches smooth one stall
MAX_RETRY_AFTER_S = 30


class IngestOverloaded(RuntimeError):
    """Refused, nothing queued: more changes wait for the writer than the service admits."""

    def __init__(self, waiting: int, limit: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} changes are waiting for the writer (at most {limit} are admitted); "
                         f"nothing of this request was accepted, retry in {retry_after_s} s")
        self.waiting = waiting
        self.limit = limit
        self.retry_after_s = retry_after_s


class WaitingCount:
    """Changes queued and not yet taken by the writer, and how fast the writer commits them.

    The bound is soft: callers checked at the same moment may all be admitted (by at most one request each), and
    a request is always admitted into an empty queue however large it is, so no single batch is refused forever.
    Changes Concord submits itself (steward approvals, capture, workflows) are counted but never refused."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the ingest queue must admit at least one change")
        self.limit = limit
        self.refused = 0  # changes refused since start (the /metrics counter)
        self._waiting = 0
        self._rate = 0.0  # changes committed per second, smoothed
        self._last_commit: float | None = None
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._waiting

    def admit(self, n: int) -> None:
        """Raise `IngestOverloaded` if `n` more changes would take the queue past the limit."""
        with self._lock:
            if self._waiting == 0 or self._waiting + n <= self.limit:
                return
            self.refused += n
            waiting = self._waiting
        raise IngestOverloaded(waiting, self.limit, self.retry_after_s(n))

    def queued(self, n: int) -> None:
        with self._lock:
            self._waiting += n

    def taken(self, n: int) -> None:
        with self._lock:
            self._waiting = max(self._waiting - n, 0)

    def committed(self, n: int, now: float | None = None) -> None:
        """`n` changes committed now: update the commit rate (changes/s between two commits, smoothed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._last_commit is not None and now > self._last_commit:
                rate = n / (now - self._last_commit)
                self._rate = rate if self._rate == 0 else (1 - RATE_WEIGHT) * self._rate + RATE_WEIGHT * rate
            self._last_commit = now

    def retry_after_s(self, n: int = 1) -> int:
        """Seconds until `n` more changes would likely be admitted: the changes that must be committed first
        (those beyond the limit, or all of them when `n` alone is over it) over the commit rate; at least 1, at
        most 30, and 1 while no rate has been measured yet."""
        with self._lock:
            waiting, rate = self._waiting, self._rate
        if rate <= 0:
            return 1
        first = min(max(waiting + n - self.limit, 1), max(waiting, 1))
        return min(max(math.ceil(first / rate), 1), MAX_RETRY_AFTER_S)
