"""A standing pull on one durable JetStream consumer (docs/decisions/075).

`NatsLog.fetch` used to send a pull request per call and wait for the answer: a round trip per batch, plus a
short linger for company (nats-py's batch fetch waits for a full batch once it waits at all). At 2,000 events/s
that was ~6 ms of every consume cycle on a loaded 2-core box, and events published meanwhile sat on the server.

Here pull requests are kept outstanding ahead of the consumer, the way nats.go's `Consume` does: the server
pushes each message to our inbox the moment the stream stores it, the inbox callback (loop thread) drops it into
a thread-safe buffer, and `take` (the consumer's thread) returns what has arrived without touching the loop.
Messages in the buffer are delivered-but-unacked, exactly like a fetched batch: a crash redelivers them (after
AckWait, or at once through `NatsLog`'s rewind on restart) and the processed-event ledger drops what was done.

Credit accounting: the server serves pull requests oldest first; a request ends when its batch is delivered
(counted here) or with a 408 when it expires (then the oldest outstanding one is dropped). A 409 (consumer
deleted, leadership change, too many waiting) or a reconnect drops all of them; the next top-up re-issues.
Requests are also forgotten locally shortly after their own expiry, so a lost status cannot stall the pull.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import time
from collections import deque

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX, Header, StatusCode

_GRACE_S = 1.0  # forget a request this long after its expiry even if its 408 never came (e.g. a reconnect)


class Puller:
    """The buffer and outstanding requests of one durable consumer. `start`, `top_up`, `reset` and the inbox
    callback run on the log's loop thread; `take`, `buffered` and `wants_more` on the consumer's thread."""

    def __init__(self, nc: Client, loop: asyncio.AbstractEventLoop, stream: str, durable: str,
                 window: int = 2, expires_s: float = 10.0) -> None:
        self.window = window  # delivered-but-untaken plus requested messages to keep ahead of the consumer
        self.expires_s = expires_s  # lifetime of one pull request on the server
        self.last_received = 0  # consumer sequence of the newest message that reached the buffer
        self._nc = nc
        self._loop = loop
        self._next_subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._buffer: queue.SimpleQueue[Msg] = queue.SimpleQueue()
        self._requests: deque[list[float]] = deque()  # [forget at (monotonic), messages still due], oldest first
        self._credit = 0  # sum of the messages still due on outstanding requests
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)
        await self.top_up()

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    # -- loop thread ----------------------------------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS) if msg.headers else None
        if status is None:
            self.last_received = msg.metadata.sequence.consumer
            self._buffer.put(msg)
            if self._requests:
                self._requests[0][1] -= 1
                self._credit -= 1
                if self._requests[0][1] <= 0:
                    self._requests.popleft()
            return
        if status == StatusCode.REQUEST_TIMEOUT:  # the oldest request expired: renew the credit
            if self._requests:
                self._credit -= int(self._requests.popleft()[1])
            await self.top_up()
        elif status == StatusCode.CONFLICT:
            # Leadership change, consumer deleted or reconfigured: the server dropped our requests. Renewal is
            # left to the consumer's next `take`, so a conflict that persists cannot become a request storm.
            self.reset()

    def reset(self) -> None:
        """Forget every outstanding request (the server dropped them: reconnect, consumer recreated)."""
        self._requests.clear()
        self._credit = 0

    async def top_up(self) -> None:
        now = time.monotonic()
        while self._requests and self._requests[0][0] < now:
            self._credit -= int(self._requests.popleft()[1])
        wanted = self.window - self._buffer.qsize() - self._credit
        if wanted < max(1, self.window // 2) and self._credit > 0:
            return  # enough is on its way; fewer, larger requests keep the server's waiting queue short
        if wanted <= 0:
            return
        # Reserve before awaiting, so two top-ups racing on the loop cannot both ask for the same room.
        self._requests.append([now + self.expires_s + _GRACE_S, float(wanted)])
        self._credit += wanted
        request = {"batch": wanted, "expires": int(self.expires_s * 1e9)}
        await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._inbox)

    # -- consumer thread ------------------------------------------------------------------------------------
    def take(self, max_events: int, wait_s: float, renew: bool = True) -> list[Msg]:
        """Up to `max_events` buffered messages; when there are none, wait up to `wait_s` for the first.
        `renew=False` asks for nothing more (a nak is handing everything back)."""
        if renew:
            self.window = max(2 * max_events, 2)  # two batches ahead: the next one arrives while this one runs
        msgs: list[Msg] = []
        if self._buffer.empty() and wait_s > 0:
            with contextlib.suppress(queue.Empty):
                msgs.append(self._buffer.get(timeout=wait_s))
        while len(msgs) < max_events:
            try:
                msgs.append(self._buffer.get_nowait())
            except queue.Empty:
                break
        if renew and self.wants_more():
            asyncio.run_coroutine_threadsafe(self.top_up(), self._loop)
        return msgs

    def buffered(self) -> int:
        return self._buffer.qsize()

    def wants_more(self) -> bool:
        return self.window - self._buffer.qsize() - self._credit >= max(1, self.window // 2)
