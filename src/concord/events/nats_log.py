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
"""

from __future__ import annotations

import asyncio
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
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from concord.events.envelope import EventEnvelope, StoredEvent, partition_of

T = TypeVar("T")
_DURABLE_SAFE = re.compile(r"[^A-Za-z0-9_-]")
# A batch fetch first asks for what is there (no wait) and returns it; only when that is nothing does it linger
# until its timeout. _NOW_S must cover a round trip; _MORE_S is how long a single message may wait for company.
_NOW_S = 0.05
_MORE_S = 0.002


class NatsLog:
    def __init__(self, url: str = "nats://127.0.0.1:4222", stream: str = "CONCORD_EVENTS",
                 subject_prefix: str = "concord.events", partitions: int = 16, ack_wait_s: float = 30.0,
                 duplicate_window_s: float = 120.0, max_ack_pending: int = 20_000) -> None:
        self.partitions = partitions
        self.stream = stream
        self.prefix = subject_prefix
        self.ack_wait_s = ack_wait_s
        self.max_ack_pending = max_ack_pending
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-event-log", daemon=True)
        self._thread.start()
        self._subs: dict[str, JetStreamContext.PullSubscription] = {}
        self._held: dict[tuple[str, int], Msg] = {}  # (subscription, stream seq) → message awaiting ack/nak
        try:
            self._nc: Client = self._call(nats.connect(url, connect_timeout=5, max_reconnect_attempts=3))
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
        return self._call(self._fetch(subscription, max_events, wait_s))

    async def _subscription(self, subscription: str) -> JetStreamContext.PullSubscription:
        sub = self._subs.get(subscription)
        if sub is None:
            durable = _durable(subscription)
            start = await self._rewind_point(durable)
            config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait_s, max_deliver=-1,
                                    max_ack_pending=self.max_ack_pending, deliver_policy=DeliverPolicy.ALL)
            if start is not None:
                config.deliver_policy, config.opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, start
            sub = await self._js.pull_subscribe(f"{self.prefix}.>", durable=durable, stream=self.stream,
                                                config=config)
            self._subs[subscription] = sub
        return sub

    async def _rewind_point(self, durable: str) -> int | None:
        """When a previous process died holding messages, JetStream would hand them back only after AckWait,
        behind newer messages of the same customers. Recreate the consumer from its ack floor instead, so
        everything after it comes again in stream order (what was already done is skipped by the ledger)."""
        try:
            info = await self._js.consumer_info(self.stream, durable)
        except NotFoundError:
            return None
        if not info.num_ack_pending or info.ack_floor is None:
            return None
        await self._js.delete_consumer(self.stream, durable)
        return int(info.ack_floor.stream_seq) + 1

    async def _fetch(self, subscription: str, max_events: int, wait_s: float) -> list[StoredEvent]:
        sub = await self._subscription(subscription)
        # nats-py's batch fetch returns what is there at once, but once it has to wait it keeps waiting for the
        # whole batch until its timeout. So: wait for the first message alone (returns the moment one arrives),
        # then take whatever else is already there with a batch fetch that barely waits.
        if wait_s <= 0:
            msgs = await _quietly(sub.fetch(batch=max_events, timeout=_NOW_S))
        else:
            msgs = await _quietly(sub.fetch(batch=1, timeout=wait_s))
            if msgs and max_events > 1:
                msgs += await _quietly(sub.fetch(batch=max_events - 1, timeout=_MORE_S))
        events = []
        for msg in msgs:
            meta = msg.metadata
            event = StoredEvent.model_construct(envelope=EventEnvelope.model_validate_json(msg.data),
                                partition=int(msg.subject.split(".")[-2]), offset=meta.sequence.stream,
                                attempt=meta.num_delivered)
            self._held[(subscription, event.offset)] = msg
            events.append(event)
        return events

    def ack(self, subscription: str, events: Sequence[StoredEvent]) -> None:
        msgs = [m for m in (self._held.pop((subscription, e.offset), None) for e in events) if m is not None]
        if msgs:
            self._call(self._ack(msgs))

    async def _ack(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        await self._nc.flush()  # the acks are plain publishes: make sure the server has them before returning

    def nak(self, subscription: str, event: StoredEvent, delay_s: float) -> None:
        msg = self._held.pop((subscription, event.offset), None)
        if msg is not None:
            self._call(msg.nak(delay=delay_s))

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


async def _quietly(fetching: Coroutine[Any, Any, list[Msg]]) -> list[Msg]:
    try:
        return await fetching
    except (TimeoutError, NatsTimeout):
        return []


def _durable(subscription: str) -> str:
    """Durable names may not contain `.`, `*`, `>` or white space."""
    return "sub_" + _DURABLE_SAFE.sub("_", subscription)
