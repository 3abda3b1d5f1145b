"""The NATS JetStream event log: one stream, subjects `<prefix>.<partition>.<type>`, one durable pull consumer
per subscription.

nats-py is asyncio; the hub around it is synchronous (ingest threads, SQLAlchemy, the CLI). So this class owns
a private event loop on a daemon thread and every public method submits a coroutine to it and waits — the
`EventLog` protocol stays synchronous and both backends are interchangeable (docs/decisions/010).

- Publish de-duplication: every message carries `Nats-Msg-Id: <event id>`; within the stream's duplicate
  window JetStream stores it once and answers `duplicate: true`. Past the window a re-publish is stored again
  and the consumers' processed-event ledger drops it.
- Consumers: durable, explicit ack, `AckWait` redelivers what a crashed process held; `max_deliver` is
  unlimited because retries and dead-lettering are the consumer engine's job (it acks after parking).
- Latency (docs/decisions/075): pull requests stay outstanding ahead of the consumer (`nats_pull.Puller`), so
  `fetch` takes what the server already pushed without a round trip, and `ack` returns once its acks are
  queued; the next `ack` (or `close`) waits until the server has the previous batch's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import threading
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from concord.events.envelope import EventEnvelope, StoredEvent, partition_of
from concord.events.nats_pull import Puller

T = TypeVar("T")
_DURABLE_SAFE = re.compile(r"[^A-Za-z0-9_-]")
# A fetch that may not wait and finds nothing pushed yet asks the server whether messages are on their way; if
# so it waits this long for the first of them (they are in flight or about to be pushed).
_SETTLE_S = 1.0


class NatsLog:
    def __init__(self, url: str = "nats://127.0.0.1:4222", stream: str = "CONCORD_EVENTS",
                 subject_prefix: str = "concord.events", partitions: int = 16, ack_wait_s: float = 30.0,
                 duplicate_window_s: float = 120.0, max_ack_pending: int = 20_000,
                 pull_expires_s: float = 10.0) -> None:
        self.partitions = partitions
        self.pull_expires_s = pull_expires_s
        self.stream = stream
        self.prefix = subject_prefix
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max_ack_pending
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-event-log", daemon=True)
        self._thread.start()
        self._pullers: dict[str, Puller] = {}
        self._held: dict[tuple[str, int], Msg] = {}  # (subscription, stream seq) → message awaiting ack/nak
        self._acking: concurrent.futures.Future[None] | None = None  # the previous ack's send + flush
        try:
            self._nc: Client = self._call(nats.connect(url, connect_timeout=5, max_reconnect_attempts=3,
                                                       reconnected_cb=self._reconnected))
            self._js = self._nc.jetstream()
            self._call(self._js.add_stream(StreamConfig(name=stream, subjects=[f"{subject_prefix}.>"],
                                                        duplicate_window=duplicate_window_s)))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- producing ------------------------------------------------------------------------------------------
    def append(self, events: Sequence[EventEnvelope]) -> int:
        return self._call(self._append(events)) if events else 0

    async def _append(self, events: Sequence[EventEnvelope]) -> int:
        futures = []
        for event in events:
            subject = f"{self.prefix}.{partition_of(event.customer_key, self.partitions)}.{event.type}"
            futures.append(await self._js.publish_async(subject, event.model_dump_json().encode(),
                                                        headers={"Nats-Msg-Id": event.event_id}))
        acks = await asyncio.gather(*futures)
        return sum(1 for ack in acks if not ack.duplicate)

    # -- consuming ------------------------------------------------------------------------------------------
    def fetch(self, subscription: str, max_events: int, wait_s: float = 0.0) -> list[StoredEvent]:
        puller = self._pullers.get(subscription) or self._call(self._puller(subscription, max_events))
        msgs = puller.take(max_events, wait_s)
        if not msgs and wait_s <= 0:  # empty must mean empty on the server too (`drain` stops at it)
            coming = self._call(self._more_coming(subscription, puller))
            msgs = puller.take(max_events, _SETTLE_S if coming else 0.0)  # (it may have landed meanwhile)
        return [self._stored(subscription, msg) for msg in msgs]

    def _stored(self, subscription: str, msg: Msg) -> StoredEvent:
        meta = msg.metadata
        event = StoredEvent.model_construct(envelope=EventEnvelope.model_validate_json(msg.data),
                                            partition=int(msg.subject.split(".")[-2]),
                                            offset=meta.sequence.stream, attempt=meta.num_delivered)
        self._held[(subscription, event.offset)] = msg
        return event

    async def _puller(self, subscription: str, max_events: int) -> Puller:
        puller = self._pullers.get(subscription)
        if puller is None:
            durable = _durable(subscription)
            delivered = await self._ensure_consumer(durable)
            puller = Puller(self._nc, self._loop, self.stream, durable, window=2 * max(max_events, 1),
                            expires_s=self.pull_expires_s)
            puller.last_received = delivered
            await puller.start()
            self._pullers[subscription] = puller
        return puller

    async def _ensure_consumer(self, durable: str) -> int:
        """Create the durable consumer unless it exists (recreating one that a dead process left holding
        messages); returns the consumer sequence it has delivered so far (0 for a new one)."""
        try:
            info = await self._js.consumer_info(self.stream, durable)
        except NotFoundError:
            info = None
        if info is not None and not (info.num_ack_pending and info.ack_floor is not None):
            return int(info.delivered.consumer_seq) if info.delivered else 0
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait_s,
                                max_deliver=-1, max_ack_pending=self.max_ack_pending,
                                deliver_policy=DeliverPolicy.ALL)
        if info is not None and info.ack_floor is not None:
            # A previous process died holding messages; JetStream would hand them back only after AckWait,
            # behind newer messages of the same customers. Recreate the consumer from its ack floor instead, so
            # everything after it comes again in stream order (what was already done is skipped by the ledger).
            await self._js.delete_consumer(self.stream, durable)
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = int(info.ack_floor.stream_seq) + 1
        await self._js.add_consumer(self.stream, config)
        return 0

    async def _more_coming(self, subscription: str, puller: Puller) -> bool:
        """Whether the server holds messages not yet pushed, or pushed ones that have not reached the buffer:
        `drain` stops at the first empty fetch, so an empty answer must mean empty on the server too."""
        info = await self._js.consumer_info(self.stream, _durable(subscription))
        delivered = int(info.delivered.consumer_seq) if info.delivered else 0
        return bool(info.num_pending) or delivered > puller.last_received

    async def _reconnected(self) -> None:
        for puller in self._pullers.values():  # the server forgot our pull requests with the old connection
            puller.reset()
            await puller.top_up()

    def ack(self, subscription: str, events: Sequence[StoredEvent]) -> None:
        msgs = [m for m in (self._held.pop((subscription, e.offset), None) for e in events) if m is not None]
        if msgs:
            # Queue this batch's acks and return; wait only for the previous batch's to have reached the server.
            # Ack-then-crash already redelivers (the ledger drops it), so the caller gains nothing by waiting.
            previous, self._acking = self._acking, asyncio.run_coroutine_threadsafe(self._ack(msgs), self._loop)
            if previous is not None:
                previous.result(60)

    async def _ack(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        await self._nc.flush()  # the acks are plain publishes: the next ack or close waits for the server's pong

    def nak(self, subscription: str, event: StoredEvent, delay_s: float) -> None:
        """Hand `event` back, and with it everything already pushed to us behind it, so that nothing buffered
        here overtakes it. (Messages still in flight to us at this moment can; the runner naks only when it
        closes, and a new process rewinds the consumer to its ack floor, see `_ensure_consumer`.)"""
        msg = self._held.pop((subscription, event.offset), None)
        puller = self._pullers.get(subscription)
        behind = puller.take(puller.buffered(), 0.0, renew=False) if puller is not None else []
        if msg is not None or behind:
            self._call(self._nak([m for m in (msg, *behind) if m is not None], delay_s))

    async def _nak(self, msgs: list[Msg], delay_s: float) -> None:
        for msg in msgs:
            await msg.nak(delay=delay_s)
        await self._nc.flush()

    # -- replay ---------------------------------------------------------------------------------------------
    def read(self, start: int | datetime, max_events: int) -> list[StoredEvent]:
        return self._call(self._read(start, max_events))

    async def _read(self, start: int | datetime, max_events: int) -> list[StoredEvent]:
        if isinstance(start, int):
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1))
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
        config.ack_policy = AckPolicy.NONE
        config.inactive_threshold = 30.0
        sub = await self._js.pull_subscribe(f"{self.prefix}.>", stream=self.stream, config=config)
        events: list[StoredEvent] = []
        try:
            while len(events) < max_events:
                try:
                    msgs = await sub.fetch(batch=min(max_events - len(events), 1000), timeout=0.2)
                except (TimeoutError, NatsTimeout):
                    break
                events += [StoredEvent(envelope=EventEnvelope.model_validate_json(m.data),
                                       partition=int(m.subject.split(".")[-2]),
                                       offset=m.metadata.sequence.stream) for m in msgs]
        finally:
            await sub.unsubscribe()
        return events

    # -- housekeeping ---------------------------------------------------------------------------------------
    def delete_stream(self) -> None:
        """Remove the stream and its consumers (tests and benchmarks use throw-away streams)."""
        with contextlib.suppress(NotFoundError):
            self._call(self._js.delete_stream(self.stream))

    def close(self) -> None:
        try:
            if self._acking is not None:
                with contextlib.suppress(Exception):  # a connection already lost has nothing left to confirm
                    self._acking.result(10)
            if not self._nc.is_closed:
                self._call(self._nc.close(), timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def _durable(subscription: str) -> str:
    """Durable names may not contain `.`, `*`, `>` or white space."""
    return "sub_" + _DURABLE_SAFE.sub("_", subscription)
