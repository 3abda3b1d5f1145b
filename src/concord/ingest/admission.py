"""Admission control for the ingest queue: an outside caller is told to come back later (HTTP 503 with
Retry-After) instead of joining a queue that would keep it waiting for many seconds (decision 086).

Without it, a sender faster than the writer (bench/ingest's open-loop row: offered 5,000/s, taken ~4,300/s) grew
the in-memory queue without end: every acknowledgement later than the one before, memory rising, callers timing
out while their changes still sat in the queue — to be committed after they gave up and sent them again. A
refusal here happens before anything is queued, so nothing of the request is written and a retry with the same
idempotency key is a first attempt, not a replay.
"""

from __future__ import annotations

import logging
import math
import threading
import time

# Changes waiting for the writer beyond which outside callers are refused: 3.5 to 5.5 s of work at the 2-core box's
# 3,600 to 5,800 changes/s (bench/ingest), well inside an HTTP client's usual 30 to 60 s timeout.
DEFAULT_MAX_WAITING = 20_000
RATE_WEIGHT = 0.2  # weight of the newest window in the commit-rate estimate: a few windows smooth one stall
RATE_WINDOW_S = 0.5  # commits are counted over at least this long before a rate is taken
MAX_RETRY_AFTER_S = 30

log = logging.getLogger(__name__)


class IngestOverloaded(RuntimeError):
    """Refused, nothing queued: the queue holds its limit of changes or more."""

    def __init__(self, waiting: int, limit: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} changes are waiting for the writer (requests are admitted while fewer than "
                         f"{limit} wait); nothing of this request was accepted, retry in {retry_after_s} s")
        self.waiting = waiting
        self.limit = limit
        self.retry_after_s = retry_after_s


class WaitingCount:
    """Changes queued and not yet taken by the writer, and how fast the writer commits them.

    A request is admitted while fewer than `limit` changes wait, whatever its size: the queue overshoots by at most
    one request per concurrent caller (a batch holds at most 5,000 changes), and a large batch is never starved by
    single changes that refill the queue each time a little room frees. Changes Concord submits itself (capture,
    steward approvals, workflows) are counted but never refused."""

    def __init__(self, limit: int, window_s: float = RATE_WINDOW_S) -> None:
        if limit < 1:
            raise ValueError("the ingest queue must admit at least one change")
        self.limit = limit
        self.refused = 0  # changes in refused requests since start (the /metrics counter)
        self._waiting = 0
        self._window_s = window_s
        self._rate = 0.0  # changes committed per second, smoothed over windows
        self._window_start: float | None = None
        self._window_changes = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._waiting

    def admit(self, n: int) -> None:
        """Raise `IngestOverloaded` (counting `n` refused) while the queue holds `limit` changes or more."""
        with self._lock:
            if self._waiting < self.limit:
                return
            self.refused += n
            waiting = self._waiting
        raise IngestOverloaded(waiting, self.limit, self.retry_after_s())

    def queued(self, n: int) -> None:
        with self._lock:
            self._waiting += n

    def taken(self, n: int) -> None:
        with self._lock:
            if n > self._waiting:  # every job is counted before it is queued: this is a counting defect
                log.warning("ingest queue count: %d changes taken, %d counted", n, self._waiting)
            self._waiting = max(self._waiting - n, 0)

    def committed(self, n: int, now: float | None = None) -> None:
        """`n` changes committed. The rate is measured over windows of at least `window_s` (two batches answered
        microseconds apart, by the committer and the writer, would otherwise read as millions per second) and
        smoothed across windows."""
        with self._lock:
            now = time.monotonic() if now is None else now
            if self._window_start is None:  # the first answer's changes were committed over an unknown time
                self._window_start = now
                return
            self._window_changes += n
            elapsed = now - self._window_start
            if elapsed < self._window_s:
                return
            rate = self._window_changes / elapsed
            self._rate = rate if self._rate == 0 else (1 - RATE_WEIGHT) * self._rate + RATE_WEIGHT * rate
            self._window_start, self._window_changes = now, 0

    def retry_after_s(self) -> int:
        """Seconds until the queue is likely below its limit again: the changes beyond it (and one) over the
        commit rate; at least 1, at most 30, and 1 while no rate has been measured yet."""
        with self._lock:
            excess, rate = self._waiting - self.limit + 1, self._rate
        if rate <= 0:
            return 1
        return min(max(math.ceil(excess / rate), 1), MAX_RETRY_AFTER_S)
